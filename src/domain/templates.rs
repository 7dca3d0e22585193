//! The contract of a prompt template: which `{{placeholders}}` each kind
//! may use and which it must keep. The config checks operators' override
//! files against it at load; `content::prompts` renders them.

/// Which template a text is, for validating overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    GenerateSystem,
    GenerateUser,
    FactCheckUser,
}

impl TemplateKind {
    pub fn placeholders(self) -> &'static [&'static str] {
        match self {
            TemplateKind::GenerateSystem | TemplateKind::GenerateUser => &[
                "site",
                "topic",
                "target_words",
                "tone",
                "language",
                "audience",
                "sources",
            ],
            TemplateKind::FactCheckUser => &["title", "article", "sources"],
        }
    }

    /// Placeholders an override must keep: without them the model would not
    /// see the topic or the data.
    pub fn required(self) -> &'static [&'static str] {
        match self {
            TemplateKind::GenerateSystem => &[],
            TemplateKind::GenerateUser => &["topic", "sources"],
            TemplateKind::FactCheckUser => &["article", "sources"],
        }
    }
}

/// The `{{name}}` placeholders in a template, in order.
pub fn placeholders_in(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        out.push(after[..end].trim().to_string());
        rest = &after[end + 2..];
    }
    out
}

/// Checks an override: known placeholders only, required ones present.
pub fn validate_template(kind: TemplateKind, text: &str) -> Result<(), String> {
    let found = placeholders_in(text);
    let known = kind.placeholders();
    if let Some(bad) = found.iter().find(|p| !known.contains(&p.as_str())) {
        return Err(format!(
            "unknown placeholder {{{{{bad}}}}} (known: {})",
            known
                .iter()
                .map(|k| format!("{{{{{k}}}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for req in kind.required() {
        if !found.iter().any(|f| f == req) {
            return Err(format!("the template must contain {{{{{req}}}}}"));
        }
    }
    Ok(())
}
