"""Evaluation on the inference core: metrics, calibration fitted on a calibration split only, recalibration of a
checkpoint, degradation suites, the MPBench protocol and its reports. It measures checkpoints; it never trains one."""
