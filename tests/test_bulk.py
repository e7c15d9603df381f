"""Bulk-write helpers: foreign keys checked per statement inside the block, deferred after."""

import pytest
from django.db import IntegrityError, transaction

from crm.models import Account
from salesops.bulk import foreign_keys_checked_now

MISSING_USER = 987_654_321


def test_inside_the_block_a_dangling_key_fails_at_once_and_after_it_waits_for_commit(db):
    with transaction.atomic():
        with foreign_keys_checked_now(), pytest.raises(IntegrityError), transaction.atomic():
            Account.objects.create(name="Nobody's", owner_id=MISSING_USER)
    with transaction.atomic():
        with foreign_keys_checked_now():
            pass
        # deferred again, as Django made the key: the row is accepted until commit
        account = Account.objects.create(name="Nobody's", owner_id=MISSING_USER)
        assert Account.objects.filter(pk=account.pk).exists()
        transaction.set_rollback(True)


def test_a_nested_block_leaves_its_caller_checking_at_once(db):
    with transaction.atomic(), foreign_keys_checked_now():
        with foreign_keys_checked_now():
            pass
        # still immediate: the outer block's writes keep the pending-check queue empty
        with pytest.raises(IntegrityError), transaction.atomic():
            Account.objects.create(name="Nobody's", owner_id=MISSING_USER)
    assert not Account.objects.filter(name="Nobody's").exists()
