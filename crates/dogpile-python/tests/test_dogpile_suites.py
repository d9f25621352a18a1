"""dogpile.cache's own generic suites (from the installed package) on the dogpile_rs
backends, as dogpile.cache runs them on its Redis backend."""

import os

from dogpile.testing.fixtures import _GenericBackendTestSuite
from dogpile.testing.fixtures import _GenericMutexTestSuite
from dogpile.testing.fixtures import _GenericSerializerTestSuite

import dogpile_rs  # noqa: F401 (registers the backends)

URL = os.environ["DOGPILE_RS_TEST_REDIS_URL"]
ARGUMENTS = {"url": URL, "redis_expiration_time": 3600}
LOCKED = dict(ARGUMENTS, distributed_lock=True, lock_sleep=0.01)


class TestRedisAdvanced(_GenericBackendTestSuite):
    backend = "dogpile_rs.redis_advanced"
    config_args = {"arguments": ARGUMENTS}


class TestRedisAdvancedLocked(_GenericBackendTestSuite):
    backend = "dogpile_rs.redis_advanced"
    config_args = {"arguments": LOCKED}


class TestRedisAdvancedSerializer(_GenericSerializerTestSuite, _GenericBackendTestSuite):
    backend = "dogpile_rs.redis_advanced"
    config_args = {"arguments": ARGUMENTS}


class TestRedisAdvancedMutex(_GenericMutexTestSuite):
    backend = "dogpile_rs.redis_advanced"
    config_args = {"arguments": LOCKED}


class TestRedisAdvancedHstore(_GenericBackendTestSuite):
    backend = "dogpile_rs.redis_advanced_hstore"
    config_args = {"arguments": ARGUMENTS}


class TestRedisAdvancedHstoreLocked(_GenericBackendTestSuite):
    backend = "dogpile_rs.redis_advanced_hstore"
    config_args = {"arguments": LOCKED}


class TestRedisAdvancedHstoreSerializer(_GenericSerializerTestSuite, _GenericBackendTestSuite):
    backend = "dogpile_rs.redis_advanced_hstore"
    config_args = {"arguments": ARGUMENTS}


class TestRedisAdvancedHstoreMutex(_GenericMutexTestSuite):
    backend = "dogpile_rs.redis_advanced_hstore"
    config_args = {"arguments": LOCKED}
