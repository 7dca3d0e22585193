//! Config for LLM providers, prices, caps and per-site writing settings:
//! what is picked from the environment and what is refused, with the fix.

use super::*;
use crate::domain::money::Money;
use crate::domain::pricing::Price;

fn parse_with(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let mut pairs = vec![("HOME", "/home/op")];
    pairs.extend_from_slice(env);
    parse(
        text,
        Some(Path::new("/etc/blog-poster/config.toml")),
        &Environment::from_pairs(pairs),
    )
}

#[test]
fn no_keys_means_no_provider_and_the_defaults_still_load() {
    let c = parse(
        DEFAULT_CONFIG,
        None,
        &Environment::from_pairs([("HOME", "/h")]),
    )
    .expect("valid");
    assert!(!c.llm.is_configured());
    assert!(c.llm.chain(None).is_empty());
    assert_eq!(c.llm.origin, "none");
    let site = &c.sites[0];
    assert_eq!(site.generate.target_words, 1200);
    assert!(
        site.check.auto_publish,
        "the example's outbox site publishes"
    );
    assert_eq!(c.caps_for(site).per_article, Some(Money(1_000_000)));
}

#[test]
fn providers_are_picked_from_the_environment_with_a_fallback() {
    let c = parse(
        DEFAULT_CONFIG,
        None,
        &Environment::from_pairs([
            ("HOME", "/h"),
            ("ANTHROPIC_API_KEY", "sk-ant-x"),
            ("OPENAI_API_KEY", "sk-o"),
        ]),
    )
    .expect("valid");
    let chain: Vec<&str> = c.llm.chain(None).iter().map(|p| p.name.as_str()).collect();
    assert_eq!(chain, ["anthropic", "openai"]);
    let a = &c.llm.chain(None)[0];
    assert_eq!(
        (a.kind, a.model.as_str()),
        (ProviderKind::Anthropic, "claude-sonnet-5-5")
    );
    assert_eq!(
        a.api_key.as_ref().map(|k| k.origin()).as_deref(),
        Some("env ANTHROPIC_API_KEY")
    );
    assert!(
        !format!("{c:?}").contains("sk-ant-x"),
        "the key leaked into Debug"
    );
}

#[test]
fn an_unpriced_model_is_refused_until_priced_or_free() {
    let base = "[llm.providers.local]\nkind = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3.1:8b\"\n";
    let err = parse_with(base, &[]).expect_err("no price");
    let shown = err.to_string();
    assert!(
        shown.contains(
            ":4: key \"model\" in [llm.providers.local]: model \"llama3.1:8b\" has no price"
        ),
        "{shown}"
    );
    assert!(
        shown.contains("[prices.\"llama3.1:8b\"]") && shown.contains("free = true"),
        "{shown}"
    );

    let free = parse_with(
        &format!("{base}[prices.\"llama3.1:8b\"]\nfree = true\n"),
        &[],
    )
    .expect("free");
    let p = free.llm.provider("local").expect("local");
    assert_eq!(p.price, Price::FREE);
    assert!(p.api_key.is_none(), "a local server needs no key");
    assert_eq!(free.llm.primary.as_deref(), Some("local"));

    let priced = parse_with(
        &format!("{base}[prices.\"llama3.1:8b\"]\ninput = \"$0.10\"\noutput = \"0.2\"\n"),
        &[],
    )
    .expect("priced");
    assert_eq!(
        priced.llm.providers[0].price,
        Price::flat(Money(100_000), Money(200_000))
    );
}

#[test]
fn built_in_prices_can_be_overridden() {
    let text = "[llm.providers.a]\nkind = \"anthropic\"\napi_key_env = \"K\"\n[prices.\"claude-sonnet-5-5\"]\ninput = \"$1\"\noutput = \"$2\"\n";
    let c = parse_with(text, &[("K", "key")]).expect("valid");
    assert_eq!(
        c.llm.providers[0].price,
        Price::flat(Money(1_000_000), Money(2_000_000))
    );
}

#[test]
fn provider_mistakes_name_the_key_and_the_fix() {
    let err = parse_with("[llm.providers.x]\nkind = \"gemini\"\n", &[]).expect_err("kind");
    assert!(
        err.to_string().contains("unknown provider kind \"gemini\""),
        "{err}"
    );
    let err = parse_with(
        "[llm.providers.x]\nkind = \"openai-compatible\"\nmodel = \"m\"\n",
        &[],
    )
    .expect_err("url");
    assert!(err.to_string().contains("needs a base_url"), "{err}");
    // A key that is not set is no error until a command calls the provider.
    let c = parse_with(
        "[llm]\nprovider = \"x\"\n[llm.providers.x]\nkind = \"anthropic\"\napi_key_env = \"NOPE\"\n[sites.a.generate]\nprovider = \"x\"\n",
        &[],
    )
    .expect("a missing key is read only when used");
    c.secrets
        .require("db status", |u| !matches!(u, SecretUse::Llm { .. }))
        .expect("db status needs no LLM key");
    let err = c
        .secrets
        .require("run --once", |u| matches!(u, SecretUse::Llm { .. }))
        .expect_err("key");
    assert_eq!(err.issues.len(), 1, "{err}");
    assert!(
        err.to_string().contains(
            "environment variable NOPE is not set; `blog-poster run --once` needs it to call the LLM provider \"x\""
        ),
        "{err}"
    );
    let two = "[llm.providers.a]\nkind = \"anthropic\"\n[llm.providers.b]\nkind = \"openai\"\n";
    let err =
        parse_with(two, &[("ANTHROPIC_API_KEY", "k"), ("OPENAI_API_KEY", "k")]).expect_err("which");
    assert!(err.to_string().contains("set provider = \"NAME\""), "{err}");
    let err = parse_with(
        &format!("[llm]\nprovider = \"c\"\n{two}"),
        &[("ANTHROPIC_API_KEY", "k"), ("OPENAI_API_KEY", "k")],
    )
    .expect_err("unknown");
    assert!(
        err.to_string()
            .contains("key \"provider\" in [llm]: no provider named \"c\" (use one of: a, b)"),
        "{err}"
    );
    let ok = parse_with(
        &format!("[llm]\nprovider = \"b\"\nfallback = [\"a\"]\n{two}"),
        &[("ANTHROPIC_API_KEY", "k"), ("OPENAI_API_KEY", "k")],
    )
    .expect("valid");
    let chain: Vec<&str> = ok.llm.chain(None).iter().map(|p| p.name.as_str()).collect();
    assert_eq!(chain, ["b", "a"]);
    assert_eq!(
        ok.llm.chain(Some("a")).len(),
        1,
        "a site choosing a skips it as fallback"
    );
}

#[test]
fn an_invalid_provider_is_not_also_reported_as_no_provider_named() {
    let err = parse_with(
        "[llm]\nprovider = \"x\"\nfallback = [\"x\"]\n[llm.providers.x]\nkind = \"anthropic\"\nbase_url = \"not a url\"\napi_key_env = \"K\"\n[sites.a.generate]\nprovider = \"x\"\n",
        &[("K", "k")],
    )
    .expect_err("bad base_url");
    let shown = err.to_string();
    assert_eq!(err.issues.len(), 1, "{shown}");
    assert!(shown.contains("invalid base URL"), "{shown}");
    assert!(!shown.contains("no provider named"), "{shown}");
    assert!(!shown.contains("no LLM provider named"), "{shown}");
}

#[test]
fn budget_amounts_parse_and_unlimited_turns_a_cap_off() {
    let c = parse_with(
        "[budget]\nglobal_daily = \"$12.50\"\nglobal_monthly = \"unlimited\"\n[sites.a.budget]\ndaily = \"0.25\"\n",
        &[],
    )
    .expect("valid");
    assert_eq!(c.budget.global_daily, Some(Money(12_500_000)));
    assert_eq!(c.budget.global_monthly, None);
    let caps = c.caps_for(&c.sites[0]);
    assert_eq!(caps.site_daily, Some(Money(250_000)));
    assert_eq!(caps.site_monthly, c.budget.site_monthly);
    let err = parse_with("[budget]\nsite_daily = \"ten dollars\"\n", &[]).expect_err("bad");
    assert!(
        err.to_string()
            .contains(":2: key \"site_daily\" in [budget]: invalid amount"),
        "{err}"
    );
}

#[test]
fn prompt_overrides_are_read_and_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("good.md"),
        "Write about {{topic}}.\n{{sources}}",
    )
    .expect("write");
    std::fs::write(dir.path().join("bad.md"), "Write about {{topik}}.").expect("write");
    let config = dir.path().join("config.toml");
    let env = Environment::from_pairs([("HOME", "/h")]);
    let c = parse(
        "[sites.a.generate]\nprompt_file = \"good.md\"\n",
        Some(&config),
        &env,
    )
    .expect("valid");
    assert!(
        c.sites[0]
            .generate
            .prompt
            .as_ref()
            .is_some_and(|p| p.text.contains("{{topic}}"))
    );
    let err = parse(
        "[sites.a.generate]\nprompt_file = \"bad.md\"\n",
        Some(&config),
        &env,
    )
    .expect_err("typo");
    assert!(
        err.to_string().contains("unknown placeholder {{topik}}"),
        "{err}"
    );
    let err = parse(
        "[sites.a.check]\nfact_check_prompt_file = \"missing.md\"\n",
        Some(&config),
        &env,
    )
    .expect_err("missing");
    assert!(err.to_string().contains("cannot read prompt file"), "{err}");
}

#[test]
fn check_gates_are_validated() {
    let err =
        parse_with("[sites.a.check]\nmin_score = 50\nreject_below = 60\n", &[]).expect_err("order");
    assert!(
        err.to_string()
            .contains("reject_below (60) is above min_score (50)"),
        "{err}"
    );
    let err = parse_with("[sites.a.check]\nmin_score = 150\n", &[]).expect_err("range");
    assert!(err.to_string().contains("150 is not a score"), "{err}");
    let c = parse_with("[sites.a.generate]\ntarget_words = 1000\nlink_allowlist = [\"https://Docs.Example.com/x\", \"*.wiki.org\"]\n", &[]).expect("valid");
    assert_eq!(
        (c.sites[0].check.min_words, c.sites[0].check.max_words),
        (700, 1650)
    );
    assert_eq!(
        c.sites[0].generate.link_allowlist,
        ["docs.example.com", "wiki.org"]
    );
}
