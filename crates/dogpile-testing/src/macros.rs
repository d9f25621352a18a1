//! The macros that stamp the suites onto a backend.

/// Stamps the whole conformance suite (backend, region, mutex, stampede, codec) as
/// `#[tokio::test]`s into a module named `$name`. `$fixture` is an expression that evaluates
/// to a closure returning something `Into<Fixture>`; it runs once per test.
///
#[macro_export]
macro_rules! conformance {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::__stamp!($fixture;
                backend::get_nothing,
                backend::set_get_overwrite,
                backend::delete,
                backend::multi_order_and_duplicates,
                backend::delete_multi,
                backend::binary_values,
                backend::hash_keys,
                region::set_get,
                region::set_multi_get_multi_with_misses_in_order,
                region::empty_multi_operations,
                region::delete_and_delete_multi,
                region::creator_runs_once_then_cached,
                region::expire_then_regenerate,
                region::get_honours_expiration_options,
                region::get_or_create_multi_should_cache_refuses_none,
                region::get_or_create_multi_creates_only_missing,
                region::decorated_function_with_invalidate,
                region::decorated_multi_function,
                decorator::expiration_time_callable,
                decorator::expiration_time_callable_zero_negative_and_none,
                decorator::function_key_generator,
                decorator::region_and_multi_key_generators,
                decorator::multi_key_generator_over_the_argument_list,
                decorator::original_function,
                decorator::multi_asdict,
                decorator::multi_asdict_keys_missing,
                decorator::multi_asdict_keys_missing_with_should_cache,
                decorator::regeneration_in_the_background,
                region::creator_error_reaches_caller_and_frees_lock,
                region::arguments_unmodified_and_unknown_keys_ignored,
                region::key_is_locked_only_during_creation,
                region::value_metadata,
                region::hard_invalidation,
                region::soft_invalidation,
                region::key_mangler,
                region::reentrant_get_or_create_on_another_key,
                region::undecodable_bytes,
                mutex::exclusion_across_tasks,
                mutex::independent_locks_per_key,
                mutex::backend_mutex_semantics,
                stampede::missing_key_creator_once,
                stampede::expired_key_stale_without_waiting,
                stampede::multi_missing_keys_creator_once,
                stampede::multi_expired_keys_stale_without_waiting,
                codec::round_trip_every_layout,
                tags::hard_invalidation_by_tag,
                tags::soft_invalidation_by_tag,
                tags::another_region_sees_the_invalidation,
                tags::tags_in_metadata_and_by_key,
                tags::decorated_functions_tagged_by_arguments,
            );
        }
    };
}

/// Stamps the null backend's suite into a module named `$name`.
#[macro_export]
macro_rules! null_conformance {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::__stamp!($fixture;
                null::stores_nothing,
                null::creator_called_every_time,
                null::decorated_function_called_every_time,
                null::mutex_always_acquires,
                region::empty_multi_operations,
            );
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __stamp {
    ($fixture:expr; $($group:ident :: $test:ident),* $(,)?) => {
        $crate::__stamp!(@each $fixture; $($group $test)*);
    };
    // Each test is a plain function handing two function pointers to one runner, compiled
    // once in this crate: a test binary that stamps the suite on many backends does not
    // compile a runtime and an executor per test.
    // The fixture is one function per stamp: written into each test, its expression (and the
    // generic helpers it calls) would be compiled once per test, not once per backend.
    (@each $fixture:expr; $($group:ident $test:ident)*) => {
        fn __fixture() -> $crate::Fixture {
            ($fixture)().into()
        }
        $(
            #[test]
            fn $test() {
                $crate::conformance::run(
                    __fixture,
                    |fixture| ::std::boxed::Box::pin($crate::conformance::$group::$test(fixture)),
                );
            }
        )*
    };
}
