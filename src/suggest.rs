//! "Did you mean" suggestions for unknown keys, kinds and names.

/// The candidate closest to `word`, if it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    let limit = (w.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&w, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_matches_only() {
        let keys = ["oauth_token", "token_expiry", "models", "name"];
        assert_eq!(did_you_mean("oauth_tokn", keys), Some("oauth_token"));
        assert_eq!(did_you_mean("token_expiary", keys), Some("token_expiry"));
        assert_eq!(did_you_mean("modles", keys), Some("models"));
        assert_eq!(did_you_mean("completely_different", keys), None);
        assert_eq!(did_you_mean("OAUTH_TOKEN", keys), Some("oauth_token"));
    }
}
