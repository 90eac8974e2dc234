"""The questionnaire pool is scored behind the start-up: the service answers at once, the scores arrive later."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from sentry_image.serve.tables import SurveyItem


def _scores(app: object) -> list[float | None]:
    with app.state.sessions() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(SurveyItem.detector_probability).where(SurveyItem.active)))


def test_background_scoring_fills_every_score_while_the_service_already_answers(
        make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="sentry_image")
    app = create_app(make_settings(survey_scoring="background"))
    with TestClient(app) as client:
        # the lifespan handed the scoring to a thread: requests are served whatever it has done so far
        assert client.get("/api/v1/health").status_code == 200
        assert client.post("/api/v1/survey/sessions").status_code == 201
        thread = app.state.pool_scoring
        assert thread is not None and thread.name == "pool-scoring"
        thread.join(timeout=120)
        assert not thread.is_alive()
        scores = _scores(app)
        assert len(scores) == 32 and all(p is not None and 0.0 <= p <= 1.0 for p in scores)
    assert any("scored 32 of 32 images" in r.getMessage() for r in caplog.records)  # progress in the log
    again = create_app(make_settings(survey_scoring="background"))
    with TestClient(again):  # a restart with the same model has nothing left to score: no thread at all
        assert again.state.pool_scoring is None


def test_a_new_model_never_shows_the_old_models_scores(make_settings: Callable[..., Settings],
                                                       tmp_path_factory: pytest.TempPathFactory) -> None:
    from tests.helpers.builders import tiny_checkpoint

    with TestClient(create_app(make_settings())):
        pass  # scored by the fixture's tiny model at start-up
    other = tiny_checkpoint(tmp_path_factory.mktemp("other") / "other", seed=7)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**config, "version": "t2"}))  # another model id: tiny@t2
    app = create_app(make_settings(model=str(other), survey_scoring="background"))
    with TestClient(app):
        # before its own scores arrive an item has none, rather than the previous model's
        with app.state.sessions() as session:
            models = set(session.scalars(select(SurveyItem.detector_model)
                                         .where(SurveyItem.detector_probability.is_not(None))))
        assert app.state.detector.name == "tiny@t2" and models <= {"tiny@t2"}
        app.state.pool_scoring.join(timeout=120)
        assert all(p is not None for p in _scores(app))
