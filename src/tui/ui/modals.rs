//! What opens over a tab: the key help, a confirmation or input dialog,
//! and the article preview (its Markdown cleaned of control characters).

use super::*;

/// A centred box `w`×`h` (clamped to the screen).
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub(super) fn dialog(frame: &mut Frame, title: &str, lines: Vec<Line>) {
    let area = centered(frame.area(), 64, lines.len() as u16 + 4);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: true })
            .block(Block::bordered().title(format!(" {title} "))),
        area,
    );
}

pub(super) fn help(frame: &mut Frame, app: &App) {
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, v)| {
            Line::from(vec![
                Span::styled(format!("{k:<15}"), HEADER),
                Span::raw(*v),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        format!("API: {}. Every change asks first.", app.endpoint),
        DIM,
    )));
    let area = centered(frame.area(), 62, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(" Keys ")),
        area,
    );
}

pub(super) fn article(frame: &mut Frame, app: &App) {
    let Some(a) = &app.article else { return };
    let area = centered(
        frame.area(),
        frame.area().width,
        frame.area().height.saturating_sub(1),
    );
    frame.render_widget(Clear, area);
    let mut lines = vec![
        Line::from(Span::styled(clean(&a.title), HEADER)),
        Line::from(format!(
            "{} · {} · score {} · keyword {}",
            clean(&a.site),
            clean(&a.status),
            a.check_score.map_or("-".into(), |s| s.to_string()),
            opt(&a.focus_keyword)
        )),
        Line::from(Span::styled(opt(&a.meta_description), DIM)),
        Line::from(""),
    ];
    lines.extend(
        clean_block(&a.body_markdown)
            .lines()
            .map(|l| Line::from(l.to_string())),
    );
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((app.article_scroll, 0))
            .block(Block::bordered().title(format!(
                " Article {} — ↑/↓ scroll, a approve, x reject, P publish, other keys close ",
                a.id
            ))),
        area,
    );
}
