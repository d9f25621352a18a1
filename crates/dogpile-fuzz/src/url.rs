//! URLs with credentials: `redact_url` never shows a password and is stable, and a Redis
//! configuration made from the URL never shows it in its `Debug` output.

use dogpile::config::{UNPARSABLE_URL, redact_url};
use dogpile_redis::RedisConfig;
use percent_encoding::percent_decode_str;

/// Passwords shorter than this may occur in the rest of a URL by chance; they are not looked
/// for in the output.
const FINDABLE: usize = 4;

/// Takes `data` (lossy UTF-8) as a URL and checks that its password, when it has one that
/// occurs once in it, appears neither in `redact_url`'s text nor in `RedisConfig`'s `Debug`;
/// that redacting is stable; and that text which does not parse but could hold credentials is
/// not echoed back.
pub fn url(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let shown = redact_url(&text);
    assert_eq!(redact_url(&shown), shown, "redacting {text:?} twice changes it");
    let debug = format!("{:?}", RedisConfig::from_url(text.as_ref()));
    let Ok(parsed) = ::url::Url::parse(&text) else {
        if text.contains(['@', '?', '#']) {
            assert_eq!(shown, UNPARSABLE_URL, "unparsable text with credentials shown: {text:?}");
        }
        return;
    };
    let Some(password) = parsed.password() else { return };
    // What the output shows of the same URL without its password: a password may be a word
    // the output uses itself (`pass` in `password`, `edac` in `<redacted>`).
    let mut bare = parsed.clone();
    if bare.set_password(None).is_err() {
        return;
    }
    let bare_shown = redact_url(bare.as_str());
    let bare_debug = format!("{:?}", RedisConfig::from_url(bare.as_str()));
    let forms = [password.to_owned(), percent_decode_str(password).decode_utf8_lossy().into_owned()];
    for secret in forms.iter().filter(|s| s.len() >= FINDABLE && text.matches(s.as_str()).count() == 1) {
        let shows = |output: &str, without: &str| {
            output.matches(secret.as_str()).count() > without.matches(secret.as_str()).count()
        };
        assert!(!shows(&shown, &bare_shown), "redact_url({text:?}) shows the password: {shown}");
        assert!(!shows(&debug, &bare_debug), "Debug of a config from {text:?} shows the password: {debug}");
    }
}
