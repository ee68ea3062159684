//! Scopes: sets of Kemendagri region code prefixes that decide what a device sees and writes.

use sidak_core::validate::check_scope_prefix;

/// Whether `region` lies inside one of the prefixes.
pub fn covers(scope: &[String], region: &str) -> bool {
    scope.iter().any(|p| region.starts_with(p.as_str()))
}

/// Checks every prefix and returns them sorted, without repeats and without a prefix
/// that lies inside another (`7371` is dropped when `73` is there).
pub fn normalize(prefixes: &[String]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::with_capacity(prefixes.len());
    for p in prefixes {
        if p.is_empty() {
            return Err("an empty region prefix would cover the whole country; name a province, regency, district or village".into());
        }
        check_scope_prefix(p)?;
        out.push(p.clone());
    }
    out.sort();
    out.dedup();
    let all = out.clone();
    out.retain(|p| !all.iter().any(|q| q != p && p.starts_with(q.as_str())));
    Ok(out)
}

/// Whether two scopes cover the same regions (both normalised or not).
pub fn same(a: &[String], b: &[String]) -> bool {
    a.iter().all(|p| covers(b, p)) && b.iter().all(|p| covers(a, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn normalizes() {
        assert_eq!(
            normalize(&v(&["7371", "73", "7371011001"])).expect("valid"),
            v(&["73"])
        );
        assert_eq!(
            normalize(&v(&["7372", "7371", "7371"])).expect("valid"),
            v(&["7371", "7372"])
        );
        assert!(normalize(&v(&[""])).is_err());
        assert!(normalize(&v(&["73.71"])).is_err());
        assert!(normalize(&v(&["99"])).is_err());
    }

    #[test]
    fn covers_and_same() {
        assert!(covers(&v(&["7371"]), "7371011001"));
        assert!(!covers(&v(&["7371"]), "7372011001"));
        assert!(!covers(&[], "7371011001"));
        assert!(same(&v(&["73"]), &v(&["73", "7371"])));
        assert!(!same(&v(&["73"]), &v(&["7371"])));
    }
}
