"""The cycle-level simulator: replays traces on a PE-array accelerator (never imports torch)."""
