"""The parts of the speed benchmark, `benchmarks/speed.py`: its timing helpers and
the child protocol (`timing`), the FLOPs model (`flops`), the machine it runs on
(`machine`), one child process per measured system (`peak_child`,
`keras_bam_child`, `keras_hub_child`, `hf_child`, with `data` for the GLUE
examples they share) and the derived rows, targets and tables (`tables`);
`speed.py` is the command and the parent that runs the children."""
