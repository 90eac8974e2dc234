"""Evaluation: threshold-free and operating-point metrics, and calibration fitted on a calibration split only."""
