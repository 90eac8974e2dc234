"""A questionnaire session never gets stuck: the last answer and the completion are stored together, and a session
left with every answer but no completion (by an earlier version crashing between its two commits) finishes itself
on the next read of its state, its results, its page or a resent answer."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select, update

from sentry_image.serve.app import create_app
from sentry_image.serve.settings import Settings
from sentry_image.serve.tables import SurveySession


def _engine(client: TestClient) -> Engine:
    engine: Engine = client.app.state.sessions.kw["bind"]  # type: ignore[attr-defined]
    return engine


def _answer(client: TestClient, sid: str, pos: int) -> Any:
    return client.post(f"/api/v1/survey/sessions/{sid}/answers",
                       json={"position": pos, "answer": "ai" if pos % 2 else "real", "confidence": 3})


def _broken_session(client: TestClient) -> tuple[str, int]:
    """A session with all 8 answers stored and ``finished_at`` NULL (the state a crash used to leave); its score."""
    sid = client.post("/api/v1/survey/sessions").json()["session_id"]
    for pos in range(8):
        assert _answer(client, sid, pos).status_code == 201
    with _engine(client).begin() as conn:
        correct = conn.scalar(select(SurveySession.correct).where(SurveySession.token == sid))
        conn.execute(update(SurveySession).where(SurveySession.token == sid).values(finished_at=None, correct=None))
    return sid, int(correct or 0)


def _finished_in_db(client: TestClient, sid: str) -> tuple[bool, int | None]:
    with _engine(client).connect() as conn:
        finished, correct = conn.execute(select(SurveySession.finished_at, SurveySession.correct)
                                         .where(SurveySession.token == sid)).one()
    return finished is not None, correct


def test_reading_the_state_repairs_a_session_left_unfinished(client: TestClient) -> None:
    sid, correct = _broken_session(client)
    state = client.get(f"/api/v1/survey/sessions/{sid}").json()
    assert (state["finished"], state["answered"], state["next_position"]) == (True, 8, None)
    assert _finished_in_db(client, sid) == (True, correct)
    assert client.get(f"/api/v1/survey/sessions/{sid}/results").json()["correct"] == correct


def test_the_results_repair_a_session_left_unfinished(client: TestClient) -> None:
    sid, correct = _broken_session(client)
    res = client.get(f"/api/v1/survey/sessions/{sid}/results")
    assert res.status_code == 200 and res.json()["correct"] == correct
    assert res.json()["crowd"]["sessions"] == 1  # it counts among the finished sessions again


def test_the_step_page_and_a_resent_answer_repair_a_session_left_unfinished(client: TestClient) -> None:
    sid, correct = _broken_session(client)
    page = client.get(f"/survey/s/{sid}")
    assert page.status_code == 200 and f"{correct} of 8" in page.text
    sid, correct = _broken_session(client)
    resent = client.post(f"/survey/s/{sid}", data={"position": "7", "answer": "ai", "confidence": "2"})
    assert resent.status_code == 200 and f"{correct} of 8" in resent.text  # after the redirect: the results
    sid, correct = _broken_session(client)
    again = _answer(client, sid, 3)  # the position is answered: an honest 409, and the session is repaired
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_answered"
    assert _finished_in_db(client, sid) == (True, correct)


@pytest.fixture
def fragile_client(make_settings: Callable[..., Settings], db_url: str) -> Iterator[TestClient]:
    """The app on the parametrised database, turning server errors into 500 responses instead of raising."""
    with TestClient(create_app(make_settings(db_url)), raise_server_exceptions=False) as c:
        yield c


def test_a_crash_while_completing_stores_neither_the_last_answer_nor_the_completion(
        fragile_client: TestClient) -> None:
    c = fragile_client
    sid = c.post("/api/v1/survey/sessions").json()["session_id"]
    for pos in range(7):
        assert _answer(c, sid, pos).status_code == 201

    def crash(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE SURVEY_SESSIONS"):
            raise RuntimeError("the server died while marking the session finished")

    event.listen(_engine(c), "before_cursor_execute", crash)
    try:
        assert _answer(c, sid, 7).status_code == 500
    finally:
        event.remove(_engine(c), "before_cursor_execute", crash)
    state = c.get(f"/api/v1/survey/sessions/{sid}").json()
    assert (state["answered"], state["next_position"], state["finished"]) == (7, 7, False)  # nothing half-stored
    assert c.get(f"/survey/s/{sid}").status_code == 200  # the page asks for the last image again
    retry = _answer(c, sid, 7)
    assert retry.status_code == 201 and retry.json()["finished"] is True
    assert c.get(f"/api/v1/survey/sessions/{sid}/results").status_code == 200
