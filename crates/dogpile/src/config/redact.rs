//! URLs shown without their credentials.

use super::arguments::is_secret_key;

/// What [`redact_url`] shows for text that holds credentials but does not parse as a URL.
pub const UNPARSABLE_URL: &str = "<a URL that does not parse>";

/// `url` with its credentials replaced by `<redacted>`, rebuilt from its parsed form (the
/// `url` crate's, the WHATWG URL standard).
///
/// A plain user name (letters, digits, `_`, `-`, `.`) beside a password is kept; any other
/// user info is hidden whole. The values of query parameters named like secrets (`password`,
/// `token`, ...) are hidden too, and a fragment is. Text that does not parse as a URL is never
/// echoed back when it could hold credentials (an `@`, `?` or `#` in it), nor is a URL with an
/// `@` in its path, query or fragment (user info that an unescaped `/`, `?` or `#` cut short):
/// both show as [`UNPARSABLE_URL`]. Escape such characters in a password (`%2F`, `%3F`, `%23`).
///
/// # Examples
///
/// ```
/// use dogpile::config::{UNPARSABLE_URL, redact_url};
///
/// assert_eq!(redact_url("redis://user:hunter2@cache:6379/0"), "redis://user:<redacted>@cache:6379/0");
/// assert_eq!(redact_url("redis://:s3cret%2Fx@127.0.0.1:1/0"), "redis://<redacted>@127.0.0.1:1/0");
/// assert_eq!(redact_url("redis://:s3cret/x#y@127.0.0.1:1/0"), UNPARSABLE_URL);
/// assert_eq!(redact_url("cache:6379"), "cache:6379");
/// ```
pub fn redact_url(url: &str) -> String {
    let Ok(parsed) = url::Url::parse(url) else {
        let may_hold_credentials = url.contains(['@', '?', '#']);
        return if may_hold_credentials { UNPARSABLE_URL.to_owned() } else { url.to_owned() };
    };
    // An `@` after the authority is the end of user info that an unescaped `/`, `?` or `#`
    // cut short: what came before it would show as path, query or fragment.
    let tail = [Some(parsed.path()), parsed.query(), parsed.fragment()];
    if tail.into_iter().flatten().any(|part| part.contains('@') || part.contains("%40")) {
        return UNPARSABLE_URL.to_owned();
    }
    let mut shown = format!("{}:", parsed.scheme());
    if parsed.has_authority() {
        shown.push_str("//");
    }
    let (user, password) = (parsed.username(), parsed.password());
    let plain_user = |user: &str| {
        !user.is_empty()
            && user.len() <= 64
            && user.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    };
    match password {
        Some(password) if !password.is_empty() && plain_user(user) => shown.push_str(&format!("{user}:<redacted>@")),
        _ if !user.is_empty() || password.is_some() => shown.push_str("<redacted>@"),
        _ => {}
    }
    if let Some(host) = parsed.host_str() {
        shown.push_str(host);
    }
    if let Some(port) = parsed.port() {
        shown.push_str(&format!(":{port}"));
    }
    // A path that starts with `//` after no authority would read as one: the URL standard
    // writes `/.` before it.
    if !parsed.has_authority() && parsed.path().starts_with("//") {
        shown.push_str("/.");
    }
    shown.push_str(parsed.path());
    if parsed.query().is_some() {
        // Decoded to compare names, encoded again to show: a decoded `&`, `=` or `%` would
        // change the query's meaning, and redacting the result would change it again.
        let encoded = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
        let pairs: Vec<String> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let shown = if is_secret_key(&key) { "<redacted>".to_owned() } else { encoded(&value) };
                format!("{}={shown}", encoded(&key))
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    if parsed.fragment().is_some() {
        shown.push_str("#<redacted>");
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_variants() {
        assert_eq!(redact_url("redis://h:1"), "redis://h:1");
        assert_eq!(redact_url("rediss://tok@h/0"), "rediss://<redacted>@h/0");
        assert_eq!(redact_url("redis://:pw@h"), "redis://<redacted>@h");
        assert_eq!(redact_url("redis://u:p/w#x?y@z@h:1/0?q=1"), UNPARSABLE_URL);
        assert_eq!(redact_url("redis://tok!en:@h"), "redis://<redacted>@h");
        // An unescaped `?` or `#` in a password would make the rest a query or a fragment.
        assert_eq!(redact_url("redis://app:?x=1&y=2@cache:1/3"), UNPARSABLE_URL);
        assert_eq!(redact_url("redis://app:1/pw@cache"), UNPARSABLE_URL);
        assert_eq!(
            redact_url("rediss://u:p@h:1/0?protocol=resp3&password=x"),
            "rediss://u:<redacted>@h:1/0?protocol=resp3&password=<redacted>"
        );
        // A query shows as it means, and redacting what it shows changes nothing.
        let url = "redis://h/0?a=%26pass%3Dx&%70assword=y&b=%%25&c=%ff";
        let shown = redact_url(url);
        assert_eq!(shown, "redis://h/0?a=%26pass%3Dx&password=<redacted>&b=%25%25&c=%EF%BF%BD");
        assert_eq!(redact_url(&shown), shown);
        // No authority, and a path that would read as one.
        let url = "redis:/.//cache:1/x";
        assert_eq!(redact_url(url), url);
    }
}
