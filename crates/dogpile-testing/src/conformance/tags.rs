//! Tags: values written with tags, invalidated by tag, hard and soft, in the region that
//! invalidates and in another region over the same backend; tags in the metadata; a codec
//! whose envelope keeps no metadata refuses them.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dogpile::region::{CreateOptions, SetOptions};
use dogpile::{CacheKey, Error, MockClock, Region};

use super::{Boom, PATIENCE, within};
use crate::Fixture;

fn ok<T>(value: T) -> Result<T, Boom> {
    Ok(value)
}

fn region(f: &Fixture, clock: &MockClock) -> Region {
    let clock = clock.clone();
    f.region(|b| b.clock(clock).expiration_time(Duration::from_secs(1000)))
}

/// Whether the fixture's codec can carry tags; when it cannot, a tagged write is refused.
async fn carries_tags(f: &Fixture, region: &Region) -> bool {
    if f.codec().envelope().keeps_metadata() {
        return true;
    }
    let refused = region.set_with("t", &1, SetOptions::new().tags(["a"])).await;
    assert!(matches!(refused, Err(Error::Codec { .. })), "a tag on an envelope without metadata: {refused:?}");
    false
}

/// A hard tag invalidation makes the values written before it with the tag misses, in
/// `get`, `get_multi` and the read-through; values without the tag, and values written after,
/// stay.
pub async fn hard_invalidation_by_tag(f: Fixture) {
    let clock = MockClock::at_system_time();
    let region = region(&f, &clock);
    if !carries_tags(&f, &region).await {
        return;
    }
    region.set_with("user:42:name", &"Ada", SetOptions::new().tags(["user:42"])).await.unwrap();
    region.set_with("user:7:name", &"Grace", SetOptions::new().tags(["user:7", "team:1"])).await.unwrap();
    let both = CreateOptions::new().tags(["user:42", "user:7"]);
    let made: String =
        region.get_or_create_with("pair", &both, || async { ok("Ada+Grace".to_string()) }).await.unwrap();
    assert_eq!(made, "Ada+Grace");
    region.set("untagged", &"plain").await.unwrap();
    clock.advance(Duration::from_secs(1));
    region.invalidate_tags(["user:42"], true).await.unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(region.get::<String>("user:42:name").await.unwrap(), None);
    assert_eq!(region.get::<String>("pair").await.unwrap(), None, "one of its tags is enough");
    let keys = ["user:42:name", "user:7:name", "untagged", "pair"];
    assert_eq!(
        region.get_multi::<String, _>(keys).await.unwrap(),
        [None, Some("Grace".into()), Some("plain".into()), None]
    );
    let runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&runs);
    let again: String = region
        .get_or_create_with("pair", &both, move || async move {
            counted.fetch_add(1, Ordering::SeqCst);
            ok("new pair".to_string())
        })
        .await
        .unwrap();
    assert_eq!((again.as_str(), runs.load(Ordering::SeqCst)), ("new pair", 1), "a tag-invalidated value is made again");
    assert_eq!(region.get::<String>("pair").await.unwrap(), Some("new pair".into()), "written after: it stands");
}

/// A soft tag invalidation makes the values stale: `get` misses, and one caller regenerates
/// while another gets the old value without waiting.
pub async fn soft_invalidation_by_tag(f: Fixture) {
    let clock = MockClock::at_system_time();
    let region = region(&f, &clock);
    if !carries_tags(&f, &region).await {
        return;
    }
    let tagged = CreateOptions::new().tags(["catalog"]);
    let first: u32 = region.get_or_create_with("price", &tagged, || async { ok(1) }).await.unwrap();
    assert_eq!(first, 1);
    clock.advance(Duration::from_secs(1));
    region.invalidate_tags(["catalog"], false).await.unwrap();
    clock.advance(Duration::from_secs(1));
    assert_eq!(region.get::<u32>("price").await.unwrap(), None, "get sees a soft-invalidated value as missing");
    let (entered_tx, entered_rx) = tokio::sync::oneshot::channel();
    let (release_tx, release_rx) = tokio::sync::oneshot::channel::<()>();
    let regen = tokio::spawn({
        let (region, tagged) = (region.clone(), tagged.clone());
        async move {
            region
                .get_or_create_with("price", &tagged, move || async move {
                    let _ = entered_tx.send(());
                    let _ = release_rx.await;
                    ok(2u32)
                })
                .await
        }
    });
    within("the regenerating caller starts its creator", entered_rx).await.unwrap();
    let stale: u32 =
        within("a caller during regeneration", region.get_or_create_with("price", &tagged, || async { ok(3) }))
            .await
            .unwrap();
    assert_eq!(stale, 1, "the stale value stands in while one caller regenerates");
    release_tx.send(()).unwrap();
    assert_eq!(within("the regeneration", regen).await.unwrap().unwrap(), 2);
    assert_eq!(region.get::<u32>("price").await.unwrap(), Some(2));
}

/// Another region over the same backend (another process, for a shared backend) honours the
/// invalidation: a tag it knows already is updated by the store's news, one it meets later is
/// read from the store.
pub async fn another_region_sees_the_invalidation(f: Fixture) {
    let clock = MockClock::at_system_time();
    let (writer, reader) = (region(&f, &clock), region(&f, &clock));
    if !carries_tags(&f, &writer).await {
        return;
    }
    let tags = SetOptions::new().tags(["shared"]);
    writer.set_with("known", &1, tags.clone()).await.unwrap();
    writer.set_with("met-later", &2, tags).await.unwrap();
    assert_eq!(reader.get::<i32>("known").await.unwrap(), Some(1), "the reader meets the tag");
    clock.advance(Duration::from_secs(1));
    writer.invalidate_tags(["shared"], true).await.unwrap();
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while reader.get::<i32>("known").await.unwrap().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "the reader never learnt of the invalidation");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let fresh = region(&f, &clock);
    assert_eq!(fresh.get::<i32>("met-later").await.unwrap(), None, "a region that meets the tag later");
}

/// A value's tags are in its metadata; `get_or_create_multi` takes each key's tags from a
/// function of the key.
pub async fn tags_in_metadata_and_by_key(f: Fixture) {
    let clock = MockClock::at_system_time();
    let region = region(&f, &clock);
    if !carries_tags(&f, &region).await {
        return;
    }
    let by_key = CreateOptions::new().tags_by_key(|key: &CacheKey| vec![format!("of:{key}"), "all".into()]);
    let made: Vec<String> = region
        .get_or_create_multi_with(["a", "b"], &by_key, |keys: Vec<CacheKey>| async move {
            ok(keys.iter().map(|k| format!("made {k}")).collect())
        })
        .await
        .unwrap();
    assert_eq!(made, ["made a", "made b"]);
    let cached = region.get_value_metadata::<String>("b").await.unwrap().expect("b was made");
    assert_eq!(cached.metadata.tags, ["of:b", "all"]);
    clock.advance(Duration::from_secs(1));
    region.invalidate_tags(["of:a"], true).await.unwrap();
    assert_eq!(region.get_multi::<String, _>(["a", "b"]).await.unwrap(), [None, Some("made b".into())]);
    assert!(matches!(region.invalidate_tags([""], true).await, Err(Error::Config { .. })), "an empty tag");
}

/// A cached function's results carry the tags its arguments give, through `call`, `set` and
/// the multi-key wrapper.
pub async fn decorated_functions_tagged_by_arguments(f: Fixture) {
    let clock = MockClock::at_system_time();
    let region = region(&f, &clock);
    if !carries_tags(&f, &region).await {
        return;
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let profile = region
        .cache_on_arguments("tests:profile", move |(user,): (u32,)| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { ok(format!("profile {user}")) }
        })
        .tags(|(user,): &(u32,)| vec![format!("user:{user}")]);
    let names = region
        .cache_multi_on_arguments("tests:names", |users: Vec<u32>| async move {
            ok(users.iter().map(|u| format!("name {u}")).collect::<Vec<_>>())
        })
        .tags(|user: &u32| vec![format!("user:{user}")]);
    assert_eq!(profile.call((1,)).await.unwrap(), "profile 1");
    assert_eq!(profile.call((2,)).await.unwrap(), "profile 2");
    profile.set(&(3,), &"set 3".to_string()).await.unwrap();
    assert_eq!(names.call(&[1, 2]).await.unwrap(), ["name 1", "name 2"]);
    clock.advance(Duration::from_secs(1));
    region.invalidate_tags(["user:1", "user:3"], true).await.unwrap();
    assert_eq!(profile.get(&(1,)).await.unwrap(), None);
    assert_eq!(profile.get(&(3,)).await.unwrap(), None, "a value set through the wrapper is tagged too");
    assert_eq!(profile.get(&(2,)).await.unwrap(), Some("profile 2".into()));
    assert_eq!(names.get(&[1, 2]).await.unwrap(), [None, Some("name 2".into())]);
    assert_eq!(profile.call((1,)).await.unwrap(), "profile 1");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}
