"""The console filter: Ray Data's ~20-line progress report becomes one line."""

import logging

from raydistill.ray_config import RayConfig
from raydistill.ray_session import PROGRESS_LOGGER, ProgressLines, local_cpus


def record(name, message, level=logging.INFO):
    return logging.LogRecord(name, level, __file__, 1, message, (), None)


def test_a_progress_report_becomes_one_line():
    shown = []
    keep = ProgressLines()
    for message in ["======= Running Dataset: d =======", "Total Progress: 0/?",
                    "Active & requested resources: 1/8 CPU", "", "ListFiles: 1/1",
                    "  Tasks: 0; Actors: 0", "MapBatches(VLLMTeacher): 16/64",
                    "StreamingRepartition[num_rows_per_block=16,strict=False]: 64/64",
                    "=================================="]:
        rec = record(PROGRESS_LOGGER, message)
        if keep.filter(rec):
            shown.append(rec.getMessage())
    assert shown == ["progress: ListFiles 1/1 | VLLMTeacher 16/64 | StreamingRepartition 64/64"]


def test_other_ray_data_lines_only_warnings_and_the_end():
    keep = ProgressLines()
    assert not keep.filter(record("ray.data.x", "Starting execution of Dataset d"))
    assert keep.filter(record("ray.data.x", "Dataset d execution finished in 1.0 seconds"))
    assert keep.filter(record("ray.data.x", "something odd", logging.WARNING))


def test_a_local_cluster_declares_more_cpus_than_cores():
    assert local_cpus(RayConfig(num_cpus=3)) == 3
    assert local_cpus(RayConfig()) >= 8
