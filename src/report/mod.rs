//! Answering audit questions with SQL: the embedded DataFusion [`session`], the bundled
//! [`catalogue`] of reports in `queries/` and [`checks`] in `queries/checks/` (findings, also
//! as [`asff`]), the [`baseline`] of described clusters, and the result [`results`] formats.

pub mod asff;
pub mod baseline;
pub mod catalogue;
pub mod checks;
mod pruned_store;
pub mod results;
pub mod session;

/// The names among `candidates` closest to a misspelt `name`, best first (at most three), for
/// "did you mean" hints.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut near: Vec<(f64, &str)> = candidates
        .into_iter()
        .map(|c| {
            (
                strsim::jaro_winkler(&name.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score > 0.8)
        .collect();
    near.sort_by(|a, b| b.0.total_cmp(&a.0));
    near.dedup_by(|a, b| a.1 == b.1);
    near.into_iter().take(3).map(|(_, c)| c).collect()
}

/// `did you mean 'a' or 'b'?`, or nothing when no name is near.
pub fn did_you_mean(near: &[&str]) -> Option<String> {
    if near.is_empty() {
        return None;
    }
    let names: Vec<String> = near.iter().map(|n| format!("'{n}'")).collect();
    Some(format!("did you mean {}?", names.join(" or ")))
}
