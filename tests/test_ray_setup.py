"""Joining Ray: the local cluster's token, and the cluster a job names."""

import stat

import pytest

from zsdist.base.errors import UserInputError
from zsdist.base.ray_setup import check_cluster, ensure_auth_token


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    return tmp_path


def test_a_local_cluster_gets_a_token_only_the_user_can_read(home):
    ensure_auth_token()
    token = home / ".ray" / "auth_token"
    assert len(token.read_text()) == 64 and int(token.read_text(), 16) >= 0
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    first = token.read_text()
    ensure_auth_token()
    assert token.read_text() == first  # a token that exists is the user's: kept
    assert [p.name for p in token.parent.iterdir()] == ["auth_token"]  # no temporary file left


@pytest.mark.parametrize("setting", [("RAY_AUTH_MODE", "disabled"), ("RAY_AUTH_TOKEN", "abc"),
                                     ("RAY_AUTH_TOKEN_PATH", "/elsewhere/token")])
def test_no_token_is_made_where_the_user_chose_otherwise(home, monkeypatch, setting):
    monkeypatch.setenv(*setting)
    ensure_auth_token()
    assert not (home / ".ray").exists()


def test_a_job_must_run_on_the_cluster_it_names(monkeypatch):
    monkeypatch.delenv("ZSDIST_RAY_CLUSTER", raising=False)
    check_cluster("127.0.0.1:6379")  # no cluster named: any will do
    monkeypatch.setenv("ZSDIST_RAY_CLUSTER", "localhost:6379")
    check_cluster("127.0.0.1:6379")  # a name and its address are the same head
    with pytest.raises(UserInputError, match="joined the Ray cluster at 127.0.0.1:6390, not the one at localhost:6379"):
        check_cluster("127.0.0.1:6390")
    monkeypatch.setenv("ZSDIST_RAY_CLUSTER", "http://127.0.0.1:8265")
    with pytest.raises(UserInputError, match="is not a Ray head's host:port"):
        check_cluster("127.0.0.1:6379")
