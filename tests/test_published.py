"""The report committed in reports/ is the one the committed notebooks give: it cannot silently go stale."""

from __future__ import annotations

import json

from fkd.publish import PUBLISHED, published_problems
from fkd.report import notebooks_digest
from tests.helpers import REPO


def test_the_committed_report_was_rendered_from_the_committed_notebooks():
    assert published_problems(REPO) == []


def test_the_committed_report_was_made_on_demo_faces_and_says_where_and_how_fast():
    record = json.loads((REPO / "reports" / PUBLISHED).read_text())
    assert record["data"] == "fkd demo faces" and record["profile"] == "standard"
    assert record["cpu_model"] and record["training_images_per_second"]
    combined = (REPO / "reports" / "report.html").read_text()
    assert "SYNTHETIC DEMO FACES" in combined and record["cpu_model"] in combined


def test_a_changed_notebook_makes_the_published_report_stale(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / PUBLISHED).write_text(json.dumps({"notebooks_sha256": "0" * 64}))
    problems = published_problems(tmp_path)
    assert problems[0].startswith("the notebooks changed after the report was published")
    (reports / PUBLISHED).write_text(json.dumps({"notebooks_sha256": notebooks_digest()}))
    assert not any("changed" in problem for problem in published_problems(tmp_path))


def test_a_report_that_names_a_home_folder_is_a_problem(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / PUBLISHED).write_text(json.dumps({"notebooks_sha256": notebooks_digest()}))
    (reports / "02_baselines.html").write_text('<pre>data_dir = "~/.cache/fkd/demo"</pre>')
    assert not any("home folder" in problem for problem in published_problems(tmp_path))
    for leak in ('/home/ann/.cache/fkd/demo', '/root/.cache/fkd/demo', r'C:\Users\ann\fkd'):
        (reports / "01_eda.html").write_text(f"<pre>3000 faces from {leak}</pre>")
        problems = [p for p in published_problems(tmp_path) if "home folder" in p]
        assert len(problems) == 1 and problems[0].startswith("reports/01_eda.html names a home folder")
