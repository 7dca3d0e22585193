//! The generate stage: the run's selected topic and the site's stored
//! competitor items become a prompt (items quoted as data), the LLM writes
//! the article under the cost caps, and the answer is parsed and repaired.
//! A malformed answer gets one corrected retry, then the job fails with
//! the reason. Links to domains outside the sources and the allow-list are
//! noted for the check stage, which holds such articles for review.

use std::sync::Arc;

use crate::config::SiteConfig;
use crate::content::draft::{Draft, finalize, parse_draft};
use crate::content::links::{host_of, unknown_domains};
use crate::content::prompts::{
    self, Delimiters, item_texts, render, render_sources, select_sources,
};
use crate::domain::BoxFuture;
use crate::llm::service::{CallContext, CallSpec, LlmError, LlmReply, LlmService};
use crate::llm::{Finish, Message};
use crate::pipeline::stage::{StageContext, StageError, StageRunner};
use crate::store::{GenerateOutput, GenerationNotes, SourceItemRecord, StageOutput};

/// Items read from the store before picking the most relevant.
const CANDIDATE_ITEMS: u32 = 100;
/// Longest previous answer quoted back in the corrective retry.
const RETRY_QUOTE_CHARS: usize = 24_000;

pub struct Generate {
    pub llm: Arc<LlmService>,
}

/// The call context for a stage's LLM calls: its site's caps and provider.
pub fn call_context(ctx: &StageContext) -> CallContext {
    CallContext {
        store: ctx.store.clone(),
        clock: ctx.clock.clone(),
        config: ctx.config.clone(),
        site: ctx.site.name.clone(),
        job: Some(ctx.job.id),
        run: Some(ctx.job.run_id),
        caps: ctx.config.caps_for(&ctx.site),
        provider_choice: ctx.site.generate.provider.clone(),
    }
}

/// The system and user prompts for an article. The topic (a phrase from
/// competitor text, or the operator's) and the items are quoted as data
/// between marks with a tag drawn for this prompt.
pub fn generate_prompts(
    site: &SiteConfig,
    topic: &str,
    items: &[SourceItemRecord],
) -> (String, String) {
    let g = &site.generate;
    let words = g.target_words.to_string();
    let mut framed = item_texts(items);
    framed.push(topic);
    let marks = Delimiters::new(&framed);
    let sources = render_sources(items, &marks);
    let topic = marks.block("TOPIC", topic);
    let vars = [
        ("site", site.name.as_str()),
        ("topic", topic.as_str()),
        ("target_words", words.as_str()),
        ("tone", g.tone.as_str()),
        ("language", g.language.as_str()),
        ("audience", g.audience.as_str()),
        ("sources", sources.as_str()),
    ];
    let system_template = g
        .system_prompt
        .as_ref()
        .map_or(prompts::GENERATE_SYSTEM, |p| p.text.as_str());
    let user_template = g
        .prompt
        .as_ref()
        .map_or(prompts::GENERATE_USER, |p| p.text.as_str());
    let system = format!(
        "{}\n\n{}\n\n{}",
        render(system_template, &vars).trim(),
        marks.rule(),
        prompts::ARTICLE_FORMAT
    );
    (system, render(user_template, &vars))
}

/// Domains an article may link to: its sources', the site's own and the
/// allow-list.
pub fn allowed_domains(site: &SiteConfig, items: &[SourceItemRecord]) -> Vec<String> {
    let mut allowed: Vec<String> = items
        .iter()
        .flat_map(|i| [i.url.as_deref(), i.source_url.as_deref()])
        .flatten()
        .chain(site.sources.iter().map(|s| s.url.as_str()))
        .filter_map(host_of)
        .collect();
    if let crate::config::PublisherConfig::Wordpress(wp) = &site.publisher
        && let Some(h) = host_of(wp.url.as_str())
    {
        allowed.push(h);
    }
    allowed.extend(site.generate.link_allowlist.iter().cloned());
    allowed.sort();
    allowed.dedup();
    allowed
}

fn usable(reply: &LlmReply) -> Result<Draft, String> {
    if reply.finish == Finish::Truncated {
        return Err(format!(
            "the answer was cut off at max_tokens ({}): write a shorter article",
            reply.max_tokens
        ));
    }
    parse_draft(&reply.text).map_err(|p| p.to_string())
}

impl Generate {
    async fn write(&self, ctx: &StageContext) -> Result<StageOutput, StageError> {
        let run = ctx.job.run_id;
        let topic = ctx
            .db(move |s| s.selected_topic(run))
            .await?
            .ok_or_else(|| {
                StageError::Permanent(format!(
                    "run {run} has no selected topic: the topics stage chose none, so there is nothing to write"
                ))
            })?;
        if !ctx.config.llm.is_configured() {
            return Err(StageError::from_llm(LlmError::NotConfigured, ctx.now()));
        }
        let site = ctx.site.clone();
        let name = site.name.clone();
        let items = ctx
            .db(move |s| s.list_source_items(&name, None, CANDIDATE_ITEMS))
            .await?;
        let items = select_sources(items, &topic.keyword, site.generate.source_items as usize);
        let (system, user) = generate_prompts(&site, &topic.keyword, &items);
        let call = call_context(ctx);
        let fail = |e: LlmError| StageError::from_llm(e, ctx.now());

        let mut messages = vec![Message::user(user.clone())];
        let max_tokens = site.generate.max_tokens;
        let spec = CallSpec {
            purpose: "generate",
            system: &system,
            messages: &messages,
            max_tokens,
        };
        let first = self.llm.complete(&call, &spec).await.map_err(fail)?;
        let (draft, reply, attempts) = match usable(&first) {
            Ok(d) => (d, first, 1),
            Err(problem) => {
                tracing::info!(site = %site.name, run = %run, "the model's article was unusable ({problem}); asking once more");
                let correction = format!(
                    "Your answer could not be used: {problem}. Reply again with the complete article, in exactly the required format."
                );
                if first.text.trim().is_empty() {
                    messages = vec![Message::user(format!("{user}\n\n{correction}"))];
                } else {
                    let quoted: String = first.text.chars().take(RETRY_QUOTE_CHARS).collect();
                    messages.push(Message::assistant(quoted));
                    messages.push(Message::user(correction));
                }
                let spec = CallSpec {
                    purpose: "generate-retry",
                    system: &system,
                    messages: &messages,
                    max_tokens,
                };
                let second = self.llm.complete(&call, &spec).await.map_err(fail)?;
                match usable(&second) {
                    Ok(d) => (d, second, 2),
                    Err(again) => {
                        return Err(StageError::Permanent(format!(
                            "the model's answer could not be used, twice: first {problem}; then {again}. \
                             Nothing was stored; check the prompt and max_tokens, then retry the job"
                        )));
                    }
                }
            }
        };
        let (article, repairs) = finalize(draft, &topic.keyword);
        let unknown = unknown_domains(&article.body_markdown, &allowed_domains(&site, &items));
        Ok(StageOutput::Generate(GenerateOutput {
            article,
            notes: GenerationNotes {
                provider: reply.provider,
                model: reply.model,
                source_item_ids: items.iter().map(|i| i.id).collect(),
                unknown_link_domains: unknown,
                repairs,
                attempts,
            },
        }))
    }
}

impl StageRunner for Generate {
    fn run<'a>(&'a self, ctx: &'a StageContext) -> BoxFuture<'a, Result<StageOutput, StageError>> {
        Box::pin(self.write(ctx))
    }
}
