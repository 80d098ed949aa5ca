"""The cycle-level engine (``engine="cycle"``): the accelerator's components, each with state in cycles.

Every component is a module, every parameter an arch-config key
(``docs/arch-config.md``):

| module | component | keys |
|---|---|---|
| ``pe.py`` | a PE: the 1-D row primitive, MAC pipeline, skip check | ``pe_array.*`` |
| ``fifo.py`` | the per-PE input FIFOs in front of the scratchpads | ``pe_array.ifmap_fifo_words`` |
| ``noc.py`` | ifmap / filter / psum buses: widths, multicast, psum hops | ``noc.*`` |
| ``glb.py`` | global buffer banks and ports (bank conflicts) | ``global_buffer.*`` |
| ``dram.py`` | DRAM tiles: latency per request, bursts, bandwidth, double buffering | ``dram.*`` |
| ``zap_unit.py`` | the dedicated ZAP unit: rate, buffer capacity, transfers | ``zap_unit.*`` |
| ``control.py`` | pass sequencing: filter reloads, phases A / Z / C | |
| ``row_stationary.py`` | the row-stationary sequencer (Numba, event-driven) | |
| ``stepping.py`` | the same components stepped one cycle at a time in plain Python | |
| ``driver.py`` | the per-layer entry ``simulate()`` calls; picks the dataflow's sequencer | |

The event-driven kernels compute each event's cycle from the events it
depends on (a word leaves the bus when every destination FIFO has room, an
output starts when its window is in the scratchpad and the previous one
is done, ...), which is what stepping every component gives: they jump
only over cycles in which nothing changes state.  ``stepping.py`` steps the
same components cycle by cycle; ``tests/test_cycle_rs_stepping.py`` holds
the two equal on random cases.
"""
