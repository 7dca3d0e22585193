//! Validation of `[llm]`, `[prices]`, `[budget]` and the per-site
//! `generate`, `check` and `budget` tables. A model without a price is a
//! config error here, before any money is spent.

use std::collections::BTreeMap;
use std::time::Duration;

use super::*;
use crate::config::raw::{RawConfig, RawProvider, RawSite};
use crate::domain::money::Money;
use crate::domain::pricing::{Price, default_price};
use crate::domain::templates::{TemplateKind, validate_template};

pub const DEFAULT_ANTHROPIC_MODEL: &str = "claude-sonnet-5-5";
pub const DEFAULT_OPENAI_MODEL: &str = "gpt-5.4-mini";
/// Where each provider's API is when the config names no `base_url`.
pub const DEFAULT_ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
pub const DEFAULT_OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

const DEFAULT_BUDGET: BudgetConfig = BudgetConfig {
    global_daily: Some(Money(5_000_000)),
    global_monthly: Some(Money(50_000_000)),
    site_daily: Some(Money(2_000_000)),
    site_monthly: Some(Money(30_000_000)),
    per_article: Some(Money(1_000_000)),
};

impl Validator<'_> {
    /// A money value; "unlimited" turns the cap off.
    fn money(
        &mut self,
        value: &Option<S<String>>,
        key: &str,
        default: Option<Money>,
    ) -> Option<Money> {
        let Some(v) = value else { return default };
        let text = v.get_ref().trim();
        if text.eq_ignore_ascii_case("unlimited") {
            return None;
        }
        match Money::parse(text) {
            Ok(m) => Some(m),
            Err(e) => {
                self.push(
                    v.span(),
                    key,
                    format!("invalid amount: {e}"),
                    Some("write dollars like \"$12.50\", or \"unlimited\" for no cap".into()),
                );
                default
            }
        }
    }

    pub(super) fn prices(&mut self, raw: &RawConfig) -> BTreeMap<String, Price> {
        let mut out = BTreeMap::new();
        for (model, p) in &raw.prices {
            let r = p.get_ref();
            if r.free.as_ref().is_some_and(|f| *f.get_ref()) {
                if let Some(i) = r.input.as_ref().or(r.output.as_ref()) {
                    self.push(
                        i.span(),
                        "free",
                        format!("model \"{model}\" is marked free and also priced"),
                        Some("keep either free = true or input/output".into()),
                    );
                }
                out.insert(model.clone(), Price::FREE);
                continue;
            }
            let input = self.money(&r.input, "input", None);
            let output = self.money(&r.output, "output", None);
            match (input, output) {
                (Some(i), Some(o)) => {
                    out.insert(model.clone(), Price::flat(i, o));
                }
                _ => self.push(
                    p.span(),
                    "input",
                    format!("price of model \"{model}\" needs both input and output"),
                    Some("write input = \"$3.00\" and output = \"$15.00\" (per million tokens), or free = true".into()),
                ),
            }
        }
        out
    }

    pub(super) fn budget(&mut self, raw: &RawConfig) -> BudgetConfig {
        let b = &raw.budget;
        BudgetConfig {
            global_daily: self.money(&b.global_daily, "global_daily", DEFAULT_BUDGET.global_daily),
            global_monthly: self.money(
                &b.global_monthly,
                "global_monthly",
                DEFAULT_BUDGET.global_monthly,
            ),
            site_daily: self.money(&b.site_daily, "site_daily", DEFAULT_BUDGET.site_daily),
            site_monthly: self.money(&b.site_monthly, "site_monthly", DEFAULT_BUDGET.site_monthly),
            per_article: self.money(&b.per_article, "per_article", DEFAULT_BUDGET.per_article),
        }
    }

    pub(super) fn llm(&mut self, raw: &RawConfig, prices: &BTreeMap<String, Price>) -> LlmConfig {
        let l = &raw.llm;
        let mut providers = Vec::new();
        let origin;
        if l.providers.is_empty() {
            let mut found = Vec::new();
            for (name, kind, var) in [
                ("anthropic", ProviderKind::Anthropic, "ANTHROPIC_API_KEY"),
                ("openai", ProviderKind::OpenAi, "OPENAI_API_KEY"),
            ] {
                if let Some(key) = self.env.get(var).filter(|v| !v.trim().is_empty()) {
                    let (model, base) = defaults_for(kind);
                    if let (Some(price), Ok(base_url)) = (
                        prices.get(model).copied().or_else(|| default_price(model)),
                        reqwest::Url::parse(base),
                    ) {
                        providers.push(ProviderConfig {
                            name: name.into(),
                            kind,
                            base_url,
                            model: model.into(),
                            api_key: Some(self.new_secret(
                                SecretSource::Known {
                                    value: key.trim().to_string(),
                                    origin: format!("env {var}"),
                                },
                                SecretUse::Llm {
                                    provider: name.to_string(),
                                },
                                None,
                                None,
                            )),
                            max_tokens: 8192,
                            timeout: Duration::from_secs(600),
                            connect_timeout: Duration::from_secs(10),
                            price,
                        });
                        found.push(var);
                    }
                }
            }
            origin = if found.is_empty() {
                "none".to_string()
            } else {
                format!("environment ({})", found.join(", "))
            };
        } else {
            origin = "config".into();
            for (name, p) in &l.providers {
                if let Some(pc) = self.provider(name, p, prices) {
                    providers.push(pc);
                }
            }
        }
        let names: Vec<String> = providers.iter().map(|p| p.name.clone()).collect();
        // A provider that is declared but has its own problem is already
        // reported: "no provider named …" beside it would mislead.
        self.invalid_providers = l
            .providers
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect();
        let declared_but_invalid =
            |v: &Self, name: &str| v.invalid_providers.iter().any(|n| n == name);
        let check_name = |v: &mut Self,
                          name: &str,
                          span: std::ops::Range<usize>,
                          key: &str|
         -> bool {
            if names.iter().any(|n| n == name) {
                return true;
            }
            if declared_but_invalid(v, name) {
                return false;
            }
            v.push(
                span,
                key,
                format!("no provider named \"{name}\""),
                Some(if names.is_empty() {
                    "add [llm.providers.NAME] with kind and model, or set ANTHROPIC_API_KEY / OPENAI_API_KEY".to_string()
                } else {
                    format!("use one of: {}", names.join(", "))
                }),
            );
            false
        };
        let primary = match &l.provider {
            Some(p) => {
                check_name(self, p.get_ref(), p.span(), "provider").then(|| p.get_ref().clone())
            }
            None if providers.len() <= 1 || l.providers.is_empty() => {
                providers.first().map(|p| p.name.clone())
            }
            None => {
                let span = l
                    .providers
                    .values()
                    .next()
                    .map(|p| p.span())
                    .unwrap_or(0..0);
                self.push(
                    span,
                    "provider",
                    format!(
                        "{} providers are configured and none is chosen",
                        providers.len()
                    ),
                    Some(format!(
                        "set provider = \"NAME\" in [llm] (one of: {})",
                        names.join(", ")
                    )),
                );
                None
            }
        };
        let mut fallback = Vec::new();
        if let Some(f) = &l.fallback {
            for name in f.get_ref() {
                if check_name(self, name, f.span(), "fallback") {
                    fallback.push(name.clone());
                }
            }
        } else if l.providers.is_empty() {
            // Both keys in the environment: the second is the fallback.
            fallback = providers.iter().skip(1).map(|p| p.name.clone()).collect();
        }
        LlmConfig {
            providers,
            primary,
            fallback,
            max_retries: l.max_retries.as_ref().map_or(3, |v| *v.get_ref()),
            retry_base: self.duration(&l.retry_base, "retry_base", Duration::from_secs(2)),
            retry_max: self.duration(&l.retry_max, "retry_max", Duration::from_secs(60)),
            breaker_failures: self.positive(&l.breaker_failures, "breaker_failures", 5),
            breaker_cooldown: self.duration(
                &l.breaker_cooldown,
                "breaker_cooldown",
                Duration::from_secs(300),
            ),
            origin,
        }
    }

    fn provider(
        &mut self,
        name: &str,
        p: &S<RawProvider>,
        prices: &BTreeMap<String, Price>,
    ) -> Option<ProviderConfig> {
        let r = p.get_ref();
        let kind = match r.kind.get_ref().as_str() {
            "anthropic" => ProviderKind::Anthropic,
            "openai" => ProviderKind::OpenAi,
            "openai-compatible" | "openai_compatible" => ProviderKind::OpenAiCompatible,
            other => {
                self.push(
                    r.kind.span(),
                    "kind",
                    format!("unknown provider kind \"{other}\""),
                    Some("use anthropic, openai or openai-compatible (Ollama, vLLM, LiteLLM, OpenRouter)".into()),
                );
                return None;
            }
        };
        let (default_model, default_base) = defaults_for(kind);
        let model = match (&r.model, kind) {
            (Some(m), _) if !m.get_ref().trim().is_empty() => m.get_ref().trim().to_string(),
            (_, ProviderKind::OpenAiCompatible) => {
                self.push(
                    p.span(),
                    "model",
                    format!("provider \"{name}\" needs a model"),
                    Some("name the model the server serves, e.g. model = \"llama3.1:8b\"".into()),
                );
                return None;
            }
            _ => default_model.to_string(),
        };
        let base_url = match (&r.base_url, kind) {
            (Some(u), _) => match reqwest::Url::parse(u.get_ref()) {
                Ok(url) if matches!(url.scheme(), "http" | "https") => url,
                _ => {
                    self.push(
                        u.span(),
                        "base_url",
                        format!("invalid base URL \"{}\"", u.get_ref()),
                        Some("use a full URL like \"http://127.0.0.1:11434/v1\"".into()),
                    );
                    return None;
                }
            },
            (None, ProviderKind::OpenAiCompatible) => {
                self.push(
                    p.span(),
                    "base_url",
                    format!("provider \"{name}\" (openai-compatible) needs a base_url"),
                    Some("e.g. base_url = \"http://127.0.0.1:11434/v1\" for Ollama".into()),
                );
                return None;
            }
            (None, _) => reqwest::Url::parse(default_base).ok()?,
        };
        let credential = format!("llm-{name}-api-key");
        let api_key = match kind {
            ProviderKind::OpenAiCompatible
                if r.api_key_env.is_none() && r.api_key_file.is_none() =>
            {
                None
            }
            _ => {
                let default_env = match kind {
                    ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
                    _ => "OPENAI_API_KEY",
                };
                Some(self.secret(
                    &r.api_key_env,
                    &r.api_key_file,
                    "api_key",
                    default_env,
                    &credential,
                    p.span(),
                    SecretUse::Llm {
                        provider: name.to_string(),
                    },
                ))
            }
        };
        let price = match prices
            .get(&model)
            .copied()
            .or_else(|| default_price(&model))
        {
            Some(price) => price,
            None => {
                let span = r.model.as_ref().map_or(p.span(), |m| m.span());
                self.push(
                    span,
                    "model",
                    format!("model \"{model}\" has no price, so its cost cannot be capped"),
                    Some(format!(
                        "add [prices.\"{model}\"] with input = \"$…\" and output = \"$…\" per million tokens, or free = true for a local model"
                    )),
                );
                return None;
            }
        };
        Some(ProviderConfig {
            name: name.to_string(),
            kind,
            base_url,
            model,
            api_key,
            max_tokens: self.positive(&r.max_tokens, "max_tokens", 8192),
            timeout: self.duration(&r.timeout, "timeout", Duration::from_secs(600)),
            connect_timeout: self.duration(
                &r.connect_timeout,
                "connect_timeout",
                Duration::from_secs(10),
            ),
            price,
        })
    }

    fn prompt_file(
        &mut self,
        value: &Option<S<String>>,
        key: &str,
        kind: TemplateKind,
    ) -> Option<PromptOverride> {
        let v = value.as_ref()?;
        let path = self.path(v.get_ref());
        match std::fs::read_to_string(&path) {
            Ok(text) => match validate_template(kind, &text) {
                Ok(()) => Some(PromptOverride { path, text }),
                Err(e) => {
                    self.push(
                        v.span(),
                        key,
                        format!("prompt file {}: {e}", path.display()),
                        Some("see prompts/ in the source for the default templates".into()),
                    );
                    None
                }
            },
            Err(e) => {
                self.push(
                    v.span(),
                    key,
                    format!("cannot read prompt file {}: {e}", path.display()),
                    Some("check the path (relative paths start at the config's folder)".into()),
                );
                None
            }
        }
    }

    fn text(value: &Option<S<String>>, default: &str) -> String {
        value
            .as_ref()
            .map(|v| v.get_ref().trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| default.to_string())
    }

    pub(super) fn generate_settings(&mut self, raw: &RawSite, llm: &LlmConfig) -> GenerateSettings {
        let g = raw.generate.as_ref().map(|g| g.get_ref());
        let empty = Default::default();
        let g = g.unwrap_or(&empty);
        let provider = g.provider.as_ref().and_then(|p| {
            if llm.provider(p.get_ref()).is_some() {
                Some(p.get_ref().clone())
            } else if self.invalid_providers.contains(p.get_ref()) {
                // Its own problem is reported where it is declared.
                None
            } else {
                self.push(
                    p.span(),
                    "provider",
                    format!("no LLM provider named \"{}\"", p.get_ref()),
                    Some(
                        "name a table of [llm.providers], or remove the key to use llm.provider"
                            .into(),
                    ),
                );
                None
            }
        });
        let mut allow = Vec::new();
        for d in &g.link_allowlist {
            let text = d
                .get_ref()
                .trim()
                .trim_start_matches("*.")
                .to_ascii_lowercase();
            let host = reqwest::Url::parse(&text)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
                .unwrap_or(text);
            if host.is_empty() || host.contains('/') || host.contains(' ') {
                self.push(
                    d.span(),
                    "link_allowlist",
                    format!("\"{}\" is not a domain", d.get_ref()),
                    Some("write domains like \"wikipedia.org\" (subdomains are included)".into()),
                );
            } else {
                allow.push(host);
            }
        }
        GenerateSettings {
            target_words: self.positive(&g.target_words, "target_words", 1200),
            tone: Self::text(&g.tone, "clear, friendly and practical"),
            language: Self::text(&g.language, "en"),
            audience: Self::text(&g.audience, "curious readers new to the topic"),
            source_items: self.positive(&g.source_items, "source_items", 12),
            max_tokens: g
                .max_tokens
                .as_ref()
                .map(|_| self.positive(&g.max_tokens, "max_tokens", 8192)),
            provider,
            link_allowlist: allow,
            system_prompt: self.prompt_file(
                &g.system_prompt_file,
                "system_prompt_file",
                TemplateKind::GenerateSystem,
            ),
            prompt: self.prompt_file(&g.prompt_file, "prompt_file", TemplateKind::GenerateUser),
        }
    }

    pub(super) fn check_settings(&mut self, raw: &RawSite, target_words: u32) -> CheckSettings {
        let c = raw.check.as_ref().map(|c| c.get_ref());
        let empty = Default::default();
        let c = c.unwrap_or(&empty);
        let score = |v: &mut Self, value: &Option<S<u32>>, key: &str, default: u8| -> u8 {
            match value {
                Some(s) if *s.get_ref() > 100 => {
                    v.push(
                        s.span(),
                        key,
                        format!("{} is not a score", s.get_ref()),
                        Some("scores run from 0 to 100".into()),
                    );
                    default
                }
                Some(s) => *s.get_ref() as u8,
                None => default,
            }
        };
        let min_score = score(self, &c.min_score, "min_score", 70);
        let reject_below = score(self, &c.reject_below, "reject_below", 40);
        if reject_below > min_score
            && let Some(r) = &c.reject_below
        {
            self.push(
                r.span(),
                "reject_below",
                format!("reject_below ({reject_below}) is above min_score ({min_score})"),
                Some(
                    "articles between the two are held for review: keep reject_below ≤ min_score"
                        .into(),
                ),
            );
        }
        let min_words = c
            .min_words
            .as_ref()
            .map_or(target_words * 7 / 10, |v| *v.get_ref());
        let max_words = c
            .max_words
            .as_ref()
            .map_or(target_words * 16 / 10 + 50, |v| *v.get_ref());
        if max_words < min_words
            && let Some(m) = c.max_words.as_ref().or(c.min_words.as_ref())
        {
            self.push(
                m.span(),
                "max_words",
                "max_words is below min_words".into(),
                Some("make max_words ≥ min_words".into()),
            );
        }
        let ease = match &c.min_reading_ease {
            Some(e) if !(0.0..=120.0).contains(e.get_ref()) => {
                self.push(
                    e.span(),
                    "min_reading_ease",
                    format!("{} is outside the Flesch scale", e.get_ref()),
                    Some("use a value from 0 (very hard) to 100 (very easy), e.g. 40".into()),
                );
                40.0
            }
            Some(e) => *e.get_ref(),
            None => 40.0,
        };
        CheckSettings {
            fact_check: c.fact_check.unwrap_or(true),
            fact_check_prompt: self.prompt_file(
                &c.fact_check_prompt_file,
                "fact_check_prompt_file",
                TemplateKind::FactCheckUser,
            ),
            max_tokens: self.positive(&c.max_tokens, "max_tokens", 4096),
            min_score,
            reject_below,
            auto_publish: c.auto_publish.unwrap_or(false),
            min_words,
            max_words,
            min_reading_ease: ease,
        }
    }

    pub(super) fn site_budget(&mut self, raw: &RawSite, budget: &BudgetConfig) -> SiteBudget {
        let b = raw.budget.as_ref().map(|b| b.get_ref());
        let empty = Default::default();
        let b = b.unwrap_or(&empty);
        SiteBudget {
            daily: self.money(&b.daily, "daily", budget.site_daily),
            monthly: self.money(&b.monthly, "monthly", budget.site_monthly),
            per_article: self.money(&b.per_article, "per_article", budget.per_article),
        }
    }
}

fn defaults_for(kind: ProviderKind) -> (&'static str, &'static str) {
    match kind {
        ProviderKind::Anthropic => (DEFAULT_ANTHROPIC_MODEL, DEFAULT_ANTHROPIC_BASE_URL),
        ProviderKind::OpenAi => (DEFAULT_OPENAI_MODEL, DEFAULT_OPENAI_BASE_URL),
        ProviderKind::OpenAiCompatible => ("", ""),
    }
}
