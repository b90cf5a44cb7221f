//! Message catalogs (Fluent): every string a screen shows comes from
//! `locales/<lang>.ftl`, compiled into the binary. A test holds the
//! catalogs to the same set of messages.

use std::borrow::Cow;
use std::sync::LazyLock;

use fluent_bundle::concurrent::FluentBundle;
use fluent_bundle::{FluentArgs, FluentResource, FluentValue};

/// A language the screens speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lang {
    En,
    Fr,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::En, Lang::Fr];

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "en" => Some(Lang::En),
            "fr" => Some(Lang::Fr),
            _ => None,
        }
    }

    fn source(self) -> &'static str {
        match self {
            Lang::En => include_str!("locales/en.ftl"),
            Lang::Fr => include_str!("locales/fr.ftl"),
        }
    }
}

struct Catalogs {
    bundles: Vec<(Lang, FluentBundle<FluentResource>)>,
}

static CATALOGS: LazyLock<Catalogs> = LazyLock::new(|| Catalogs {
    bundles: Lang::ALL.iter().map(|&l| (l, bundle(l))).collect(),
});

fn bundle(lang: Lang) -> FluentBundle<FluentResource> {
    let res = FluentResource::try_new(lang.source().to_string())
        .unwrap_or_else(|(_, e)| panic!("the {} catalog parses: {e:?}", lang.code()));
    let id: unic_langid::LanguageIdentifier = lang.code().parse().expect("a language id");
    let mut b = FluentBundle::new_concurrent(vec![id]);
    // Screens are HTML that maud escapes; no bidi isolation marks.
    b.set_use_isolating(false);
    b.add_resource(res).expect("message ids are unique");
    b
}

fn find(lang: Lang) -> &'static FluentBundle<FluentResource> {
    &CATALOGS
        .bundles
        .iter()
        .find(|(l, _)| *l == lang)
        .expect("every language has a catalog")
        .1
}

/// The message `id` in `lang`; the id itself when it is missing (a test
/// keeps that from happening).
pub fn t(lang: Lang, id: &str) -> String {
    format(lang, id, None)
}

/// The message `id` with named arguments.
pub fn t_args(lang: Lang, id: &str, args: &[(&str, String)]) -> String {
    let mut a = FluentArgs::new();
    for (k, v) in args {
        a.set(*k, FluentValue::from(v.clone()));
    }
    format(lang, id, Some(&a))
}

fn format(lang: Lang, id: &str, args: Option<&FluentArgs>) -> String {
    let b = find(lang);
    let Some(pattern) = b.get_message(id).and_then(|m| m.value()) else {
        return id.to_string();
    };
    let mut errors = Vec::new();
    let out: Cow<str> = b.format_pattern(pattern, args, &mut errors);
    out.into_owned()
}

/// The message ids of a catalog.
#[cfg(test)]
fn ids(lang: Lang) -> Vec<String> {
    lang.source()
        .lines()
        .filter_map(|l| l.split_once(" = ").map(|(k, _)| k.trim()))
        .filter(|k| !k.is_empty() && !k.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_has_every_message() {
        let en = ids(Lang::En);
        assert!(en.len() > 50);
        for lang in Lang::ALL {
            assert_eq!(
                ids(lang),
                en,
                "{} lists the same messages as en",
                lang.code()
            );
            for id in &en {
                assert_ne!(t(lang, id), *id, "{id} in {}", lang.code());
            }
        }
        assert_eq!(t(Lang::Fr, "booth-cast"), "Déposer mon vote");
        assert_eq!(
            t_args(
                Lang::En,
                "booth-step",
                &[("n", "2".into()), ("total", "4".into())]
            ),
            "Step 2 of 4"
        );
    }
}
