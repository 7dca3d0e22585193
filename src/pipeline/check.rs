//! The check stage: the deterministic checks, then a fact check — the LLM
//! lists the article's claims and judges each against the same source items
//! generate was given — then the score, the report and the site's gate. A
//! cost cap makes the job wait; a fact check that cannot be done holds the
//! article for a person rather than publishing it unchecked.

use std::sync::Arc;

use serde_json::json;

use crate::content::checks::run_checks;
use crate::content::gate::{FactCheck, decide, parse_fact_check};
use crate::content::markdown::{Document, words};
use crate::content::prompts::{self, Delimiters, item_texts, render, render_sources};
use crate::domain::BoxFuture;
use crate::domain::lifecycle::ArticleStatus;
use crate::llm::service::{CallSpec, LlmError, LlmService};
use crate::llm::{Finish, Message};
use crate::pipeline::generate::call_context;
use crate::pipeline::stage::{StageContext, StageError, StageRunner};
use crate::store::{ArticleRecord, CheckOutput, SourceItemRecord, StageOutput};

pub struct Check {
    pub llm: Arc<LlmService>,
}

/// The fact-check prompts for an article.
pub fn fact_check_prompts(
    template: Option<&str>,
    article: &ArticleRecord,
    items: &[SourceItemRecord],
) -> (String, String) {
    let content = &article.content;
    let mut framed = item_texts(items);
    framed.extend([content.title.as_str(), content.body_markdown.as_str()]);
    let marks = Delimiters::new(&framed);
    let sources = render_sources(items, &marks);
    // The article was written from competitor text: it is data too.
    let title = marks.block("TITLE", &content.title);
    let body = marks.block("ARTICLE", &content.body_markdown);
    let vars = [
        ("title", title.as_str()),
        ("article", body.as_str()),
        ("sources", sources.as_str()),
    ];
    let system = format!(
        "{}\n\n{}\n\n{}",
        prompts::FACT_CHECK_SYSTEM.trim(),
        marks.rule(),
        prompts::FACT_CHECK_FORMAT
    );
    (
        system,
        render(template.unwrap_or(prompts::FACT_CHECK_USER), &vars),
    )
}

impl Check {
    async fn fact_check(
        &self,
        ctx: &StageContext,
        article: &ArticleRecord,
    ) -> Result<FactCheck, StageError> {
        let settings = &ctx.site.check;
        if !settings.fact_check {
            return Ok(FactCheck::Disabled);
        }
        if !ctx.config.llm.is_configured() {
            return Ok(FactCheck::Unavailable(LlmError::NotConfigured.to_string()));
        }
        let ids = article
            .generation
            .as_ref()
            .map(|g| g.source_item_ids.clone())
            .unwrap_or_default();
        let items = ctx.db(move |s| s.get_source_items(&ids)).await?;
        let (system, user) = fact_check_prompts(
            settings.fact_check_prompt.as_ref().map(|p| p.text.as_str()),
            article,
            &items,
        );
        let call = call_context(ctx);
        let mut messages = vec![Message::user(user)];
        let mut problem = String::new();
        for purpose in ["fact-check", "fact-check-retry"] {
            let spec = CallSpec {
                purpose,
                system: &system,
                messages: &messages,
                max_tokens: Some(settings.max_tokens),
            };
            let reply = match self.llm.complete(&call, &spec).await {
                Ok(r) => r,
                // A cap or an outage makes the job wait; a failure no retry
                // can fix means a person checks the facts.
                Err(
                    e @ (LlmError::CapReached(_)
                    | LlmError::Store(_)
                    | LlmError::Unavailable { .. }),
                ) => return Err(StageError::from_llm(e, ctx.now())),
                Err(e @ (LlmError::NotConfigured | LlmError::Failed { .. })) => {
                    return Ok(FactCheck::Unavailable(e.to_string()));
                }
            };
            let parsed = if reply.finish == Finish::Truncated {
                Err(format!(
                    "the answer was cut off at max_tokens ({})",
                    reply.max_tokens
                ))
            } else {
                parse_fact_check(&reply.text)
            };
            match parsed {
                Ok(mut claims) => {
                    for c in &mut claims {
                        c.source_url = c
                            .source
                            .and_then(|n| items.get((n as usize).checked_sub(1)?))
                            .and_then(|i| i.url.clone());
                    }
                    return Ok(FactCheck::Done(claims));
                }
                Err(p) => {
                    problem = p;
                    if !reply.text.trim().is_empty() {
                        let quoted: String = reply.text.chars().take(8000).collect();
                        messages.push(Message::assistant(quoted));
                    }
                    messages.push(Message::user(format!(
                        "Your answer could not be used: {problem}. Reply again with the JSON only, in exactly the required shape."
                    )));
                }
            }
        }
        Ok(FactCheck::Unavailable(format!(
            "the fact-check answer could not be used twice ({problem})"
        )))
    }

    async fn check(&self, ctx: &StageContext) -> Result<StageOutput, StageError> {
        let run = ctx.job.run_id;
        let article = ctx
            .db(move |s| s.article_for_run(run))
            .await?
            .ok_or_else(|| StageError::Permanent(format!("run {run} has no article to check")))?;
        if article.status != ArticleStatus::Draft {
            return Err(StageError::Permanent(format!(
                "article {} is {}, not a draft: it was already checked",
                article.id, article.status
            )));
        }
        let site = ctx.site.clone();
        let notes = article.generation.clone().unwrap_or_default();
        let checks = run_checks(
            &article.content,
            &site.check,
            &site.generate.language,
            &notes.unknown_link_domains,
        );
        let fact = self.fact_check(ctx, &article).await?;
        let doc = Document::parse(&article.content.body_markdown);
        let extra = json!({
            "word_count": words(&doc.body_text()).count(),
            "provider": notes.provider,
            "model": notes.model,
            "source_items": notes.source_item_ids,
            "unknown_link_domains": notes.unknown_link_domains,
            "repairs": notes.repairs,
            "generate_attempts": notes.attempts,
        });
        let (score, decision, report) = decide(&checks, &fact, &site.check, extra);
        Ok(StageOutput::Check(CheckOutput {
            article_id: article.id,
            score,
            report,
            decision,
        }))
    }
}

impl StageRunner for Check {
    fn run<'a>(&'a self, ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(self.check(ctx))
    }
}
