"""The household's open stores follow each user's file on disk: a user forgotten, removed
or restored by another process is seen at the next use, never written into."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from secondself.core.bus import Bus
from secondself.core.errors import UserError
from secondself.household.stores import CurrentMemory, CurrentStore, OpenStores
from secondself.household.users import Household
from secondself.memory.model import Origin
from secondself.memory.store import MemoryStore, forget_user
from tests.household.test_personas import CATALOG, DEFAULTS
from tests.memory.test_support import HashEmbedder, files_containing

pytestmark = pytest.mark.unit


@pytest.fixture
def household(tmp_path: Path) -> Household:
    return Household(tmp_path / "home", DEFAULTS, CATALOG)


@pytest.fixture
def stores(household: Household) -> Iterator[OpenStores]:
    opened = OpenStores(household, HashEmbedder(), Bus())  # the daemon's
    yield opened
    opened.close()


def test_a_user_forgotten_by_another_process_is_opened_again_empty(
    household: Household, stores: OpenStores
) -> None:
    memory = CurrentMemory(stores, "default", "personal")  # what a conversation keeps
    memory.remember("the spare key is under the blue pot", Origin.VOICE)
    epoch = memory.forget_epoch()
    forget_user(household.folder("default"))  # `secondself forget --user-all`
    assert memory.forget_epoch() != epoch  # the conversation drops its history
    assert memory.recall("Where is the spare key?", 5) == []
    memory.remember("the new key is in the kitchen drawer", Origin.VOICE)
    stores.close()
    with MemoryStore.open(household.folder("default")) as restarted:  # as a restart finds it
        assert [m.text for m in restarted.iterate()] == ["the new key is in the kitchen drawer"]
    assert files_containing(household.home, [b"blue pot"]) == []


def test_a_removed_users_memory_is_refused_and_no_folder_made_again(
    household: Household, stores: OpenStores
) -> None:
    household.add_user("bob")
    device = CurrentStore(stores, "bob")  # what the button and camera keep
    device.remember("a memo about the bike shed")
    household.remove_user("bob")  # `secondself user remove bob`
    with pytest.raises(UserError, match="no user 'bob'"):
        device.remember("a memo after bob was removed")
    assert not household.folder("bob").exists()


def test_a_deleted_users_store_is_let_go_without_waiting_for_them_to_speak(
    household: Household, stores: OpenStores
) -> None:
    household.add_user("carol")
    CurrentStore(stores, "carol").remember("carol's bike lock is 4711")
    assert stores.close_replaced() == 0  # nothing changed on disk: nothing closed
    household.remove_user("carol")  # `secondself user remove carol`, another process
    assert stores.close_replaced() == 1
    assert stores.close_replaced() == 0
