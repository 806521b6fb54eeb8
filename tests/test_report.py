"""The side-by-side report: markdown table and PNG chart from several runs' metrics.json."""
import json

import pytest

from crpo.bench.report import write_report
from crpo.data.items import DataError


def metrics(p_dir, p_static):
    return {"acc": 0.6, "p_acc": (p_dir + p_static) / 2, "p_acc_dynamic": p_dir, "p_acc_static": p_static,
            "static_acc": 0.9, "dynamic_change_rate": 0.25, "static_keep_rate": None,
            "per_category": {"moving_direction": {"items": 4, "pairs": 2, "acc": 0.5, "p_acc": p_dir},
                             "static_attribute": {"items": 4, "pairs": 2, "acc": 1.0, "p_acc": p_static}}}


def test_report_files_and_table(tmp_path):
    runs = []
    for name, m in (("base", metrics(0.0, 1.0)), ("crpo", metrics(0.5, 1.0))):
        (tmp_path / name).mkdir()
        (tmp_path / name / "metrics.json").write_text(json.dumps(m))
        runs.append(tmp_path / name)
    del m["per_category"]["static_attribute"]  # a category one run lacks shows as a dash
    (tmp_path / "crpo" / "metrics.json").write_text(json.dumps(m))
    write_report(runs, tmp_path / "report")
    md = (tmp_path / "report" / "report.md").read_text()
    assert (tmp_path / "report" / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| metric | base | crpo |" in md
    assert "| P-Acc moving_direction | 0.0 | 50.0 |" in md
    assert "| P-Acc static_attribute | 100.0 | – |" in md
    assert "| Static keep rate | – | – |" in md
    assert "| Dynamic change rate | 25.0 | 25.0 |" in md


def test_missing_metrics_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="metrics.json: missing"):
        write_report([tmp_path / "empty"], tmp_path / "report")
