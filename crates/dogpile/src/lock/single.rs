//! The algorithm for one key (dogpile's `Lock.__enter__`); see [the module](super).

use std::future::Future;

use super::{Ages, LockMutex, Outcome, Read};
use crate::clock::Clock;
use crate::error::{Error, Result};

/// Fail-safe for one run (its age limit is [`Ages::stand_in`]).
pub(crate) struct FailSafeCheck<'a> {
    /// The key's regeneration failed recently: serve its expired value without trying.
    pub(crate) throttled: bool,
    /// Takes the error that an expired value stood in for.
    pub(crate) suppressed: &'a (dyn Fn(Error) + Sync),
}

/// One run of the algorithm for one key.
pub(crate) struct Lock<'a, M> {
    pub(crate) mutex: &'a M,
    pub(crate) ages: Ages,
    pub(crate) clock: &'a dyn Clock,
    pub(crate) fail_safe: Option<FailSafeCheck<'a>>,
}

impl<M: LockMutex> Lock<'_, M> {
    fn is_fresh(&self, read: &Read<impl Sized>) -> bool {
        self.ages.is_fresh(read.ct, self.clock.now())
    }

    /// The fail-safe check, if fail-safe may serve `read`.
    fn may_stand_in(&self, read: &Read<impl Sized>) -> Option<&FailSafeCheck<'_>> {
        self.fail_safe.as_ref().filter(|_| self.ages.may_stand_in(read.ct, self.clock.now()))
    }

    /// Runs the algorithm. `get_value` reads the key; `creator` makes a value; `background`,
    /// if given, takes the mutex and regenerates elsewhere.
    #[cfg(test)]
    pub(crate) async fn enter<T, G, GF, C, CF, B>(
        &self,
        get_value: G,
        creator: C,
        background: Option<B>,
    ) -> Result<(Read<T>, Outcome)>
    where
        G: Fn() -> GF,
        GF: Future<Output = Result<Option<Read<T>>>>,
        C: FnOnce() -> CF,
        CF: Future<Output = Result<Read<T>>>,
        B: FnOnce(M::Guard),
    {
        let first = get_value().await?;
        self.enter_after(first, get_value, creator, background).await
    }

    /// Runs the algorithm on `first`, what the caller's first `get_value` read.
    pub(crate) async fn enter_after<T, G, GF, C, CF, B>(
        &self,
        first: Option<Read<T>>,
        get_value: G,
        creator: C,
        background: Option<B>,
    ) -> Result<(Read<T>, Outcome)>
    where
        G: Fn() -> GF,
        GF: Future<Output = Result<Option<Read<T>>>>,
        C: FnOnce() -> CF,
        CF: Future<Output = Result<Read<T>>>,
        B: FnOnce(M::Guard),
    {
        let (guard, waited) = match first {
            Some(read) if self.is_fresh(&read) => return Ok((read, Outcome::Fresh)),
            Some(read) if self.may_stand_in(&read).is_some_and(|f| f.throttled) => {
                return Ok((read, Outcome::FailSafe));
            }
            Some(read) => match self.mutex.try_acquire().await? {
                None => return Ok((read, Outcome::Stale)),
                Some(guard) => (guard, false),
            },
            None => match self.wait_for_missing(&get_value).await? {
                Ok(taken) => taken,
                Err(found) => return Ok((found, Outcome::AfterWait)),
            },
        };
        // Read again under the mutex: a previous holder may have just stored a fresh value
        // (after our first read, before we took the mutex).
        let current = match get_value().await {
            Ok(Some(read)) if self.is_fresh(&read) => {
                self.mutex.release(guard).await?;
                return Ok((read, if waited { Outcome::AfterWait } else { Outcome::Fresh }));
            }
            Ok(found) => found,
            Err(err) => {
                let _ = self.mutex.release(guard).await;
                return Err(err);
            }
        };
        let current = match (background, current) {
            (Some(background), Some(read)) => {
                background(guard);
                return Ok((read, Outcome::StaleBackground));
            }
            (_, current) => current,
        };
        let created = creator().await;
        let released = self.mutex.release(guard).await;
        match created {
            Ok(read) => {
                released?;
                Ok((read, if waited { Outcome::CreatedAfterWait } else { Outcome::Created }))
            }
            Err(err) => {
                let Some((fail_safe, stale)) = current.and_then(|read| Some((self.may_stand_in(&read)?, read))) else {
                    return Err(err);
                };
                (fail_safe.suppressed)(err);
                released?;
                Ok((stale, Outcome::FailSafe))
            }
        }
    }

    /// No value: take the mutex; while someone holds it (most likely creating), wait for its
    /// release and read the value it stored, trying the mutex again only if there is none.
    /// Waiters never queue for the mutex itself, so a crowd of them does not pass it along one
    /// by one once the value is there. `Ok`: the mutex, and whether it was waited for; `Err`:
    /// the value the holder left, found after waiting.
    async fn wait_for_missing<T, G, GF>(&self, get_value: &G) -> Result<Result<(M::Guard, bool), Read<T>>>
    where
        G: Fn() -> GF,
        GF: Future<Output = Result<Option<Read<T>>>>,
    {
        if let Some(guard) = self.mutex.try_acquire().await? {
            return Ok(Ok((guard, false)));
        }
        loop {
            if !self.mutex.wait().await? {
                // The wait gave up: the blocking acquisition has the last word.
                return Ok(Ok((self.mutex.acquire().await?, true)));
            }
            if let Some(read) = get_value().await?
                && self.is_fresh(&read)
            {
                return Ok(Err(read));
            }
            if let Some(guard) = self.mutex.try_acquire().await? {
                return Ok(Ok((guard, true)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::MockClock;
    use crate::lock::testing::{FlagGuard, FlagMutex, served};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    const NO_BG: Option<fn(FlagGuard)> = None;

    fn lock<'a>(mutex: &'a FlagMutex, clock: &'a MockClock) -> Lock<'a, FlagMutex> {
        Lock { mutex, ages: Ages { expiration: Some(10.0), stand_in: None }, clock, fail_safe: None }
    }

    #[tokio::test]
    async fn fresh_value_takes_no_mutex() {
        let (mutex, clock) = (FlagMutex::default(), MockClock::new(100.0));
        let got = served(
            lock(&mutex, &clock)
                .enter(|| async { Ok(Some(Read::at(1, 95.0))) }, || async { Ok(Read::at(2, 0.0)) }, NO_BG)
                .await
                .unwrap(),
        );
        assert_eq!(got, (1, Outcome::Fresh));
        assert_eq!(mutex.acquisitions.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn expired_value_with_mutex_held_elsewhere_is_stale() {
        let (mutex, clock) = (FlagMutex::default(), MockClock::new(100.0));
        mutex.held.store(true, Ordering::SeqCst);
        let got = served(
            lock(&mutex, &clock)
                .enter(|| async { Ok(Some(Read::at(1, 50.0))) }, || async { Ok(Read::at(2, 0.0)) }, NO_BG)
                .await
                .unwrap(),
        );
        assert_eq!(got, (1, Outcome::Stale));
    }

    #[tokio::test]
    async fn expired_value_with_free_mutex_is_regenerated_and_released() {
        let (mutex, clock) = (FlagMutex::default(), MockClock::new(100.0));
        let got = served(
            lock(&mutex, &clock)
                .enter(|| async { Ok(Some(Read::at(1, 50.0))) }, || async { Ok(Read::at(2, 0.0)) }, NO_BG)
                .await
                .unwrap(),
        );
        assert_eq!(got, (2, Outcome::Created));
        assert!(!mutex.held.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn missing_value_is_read_again_under_the_mutex() {
        let (mutex, clock) = (FlagMutex::default(), MockClock::new(100.0));
        let reads = AtomicUsize::new(0);
        let got = served(
            lock(&mutex, &clock)
                .enter(
                    || {
                        let n = reads.fetch_add(1, Ordering::SeqCst);
                        async move { Ok(if n == 0 { None } else { Some(Read::at(7, 99.0)) }) }
                    },
                    || async { Ok(Read::at(2, 0.0)) },
                    NO_BG,
                )
                .await
                .unwrap(),
        );
        assert_eq!(got, (7, Outcome::Fresh), "the mutex was free: no wait");
        assert!(!mutex.held.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn expired_value_regenerated_meanwhile_is_not_regenerated_again() {
        let (mutex, clock) = (FlagMutex::default(), MockClock::new(100.0));
        let reads = AtomicUsize::new(0);
        let got = served(
            lock(&mutex, &clock)
                .enter(
                    || {
                        let n = reads.fetch_add(1, Ordering::SeqCst);
                        async move { Ok(Some(if n == 0 { Read::at(1, 50.0) } else { Read::at(3, 99.0) })) }
                    },
                    || async { panic!("the value was regenerated by the previous holder") as Result<Read<u8>> },
                    NO_BG,
                )
                .await
                .unwrap(),
        );
        assert_eq!(got, (3, Outcome::Fresh));
        assert!(!mutex.held.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn creator_error_releases_the_mutex() {
        let (mutex, clock) = (FlagMutex::default(), MockClock::new(100.0));
        let got = lock(&mutex, &clock)
            .enter(|| async { Ok(None::<Read<u8>>) }, || async { Err(crate::Error::codec("boom")) }, NO_BG)
            .await;
        assert!(got.is_err());
        assert!(!mutex.held.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn fail_safe_returns_a_young_enough_stale_value_for_a_failed_creator() {
        let (mutex, clock) = (FlagMutex::default(), MockClock::new(100.0));
        let suppressed = std::sync::Mutex::new(Vec::new());
        let keep = |err: crate::Error| suppressed.lock().unwrap().push(err.to_string());
        let with = |max_age: f64, throttled: bool| Lock {
            mutex: &mutex,
            ages: Ages { expiration: Some(10.0), stand_in: Some(max_age) },
            clock: &clock,
            fail_safe: Some(FailSafeCheck { throttled, suppressed: &keep }),
        };
        let fail = || async { Err::<Read<u8>, _>(crate::Error::codec("boom")) };
        // Created at 50: 50 s old, within 60 s.
        let got = served(with(60.0, false).enter(|| async { Ok(Some(Read::at(1, 50.0))) }, fail, NO_BG).await.unwrap());
        assert_eq!(got, (1, Outcome::FailSafe));
        assert_eq!(mutex.acquisitions.load(Ordering::SeqCst), 1);
        assert!(!mutex.held.load(Ordering::SeqCst));
        assert_eq!(suppressed.lock().unwrap().len(), 1);
        // Too old, or nothing to serve: the error.
        assert!(with(40.0, false).enter(|| async { Ok(Some(Read::at(1, 50.0))) }, fail, NO_BG).await.is_err());
        assert!(with(60.0, false).enter(|| async { Ok(None::<Read<u8>>) }, fail, NO_BG).await.is_err());
        // Throttled: the stale value at once, without the mutex or the creator.
        let got = served(with(60.0, true).enter(|| async { Ok(Some(Read::at(1, 50.0))) }, fail, NO_BG).await.unwrap());
        assert_eq!(got, (1, Outcome::FailSafe));
        assert_eq!(mutex.acquisitions.load(Ordering::SeqCst), 3);
        assert_eq!(suppressed.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn background_takes_the_mutex_and_returns_stale() {
        let (mutex, clock) = (FlagMutex::default(), MockClock::new(100.0));
        let handed = std::sync::Mutex::new(None);
        let got = served(
            lock(&mutex, &clock)
                .enter(
                    || async { Ok(Some(Read::at(1, 50.0))) },
                    || async { Ok(Read::at(2, 0.0)) },
                    Some(|g| *handed.lock().unwrap() = Some(g)),
                )
                .await
                .unwrap(),
        );
        assert_eq!(got, (1, Outcome::StaleBackground));
        assert!(mutex.held.load(Ordering::SeqCst), "the background task holds the mutex");
        drop(handed);
        assert!(!mutex.held.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn no_expiration_never_expires() {
        let (mutex, clock) = (FlagMutex::default(), MockClock::new(100.0));
        clock.advance(Duration::from_secs(1_000_000));
        let lock = Lock { mutex: &mutex, ages: Ages::default(), clock: &clock, fail_safe: None };
        let got = served(
            lock.enter(|| async { Ok(Some(Read::at(1, 1.0))) }, || async { Ok(Read::at(2, 0.0)) }, NO_BG)
                .await
                .unwrap(),
        );
        assert_eq!(got, (1, Outcome::Fresh));
    }
}
