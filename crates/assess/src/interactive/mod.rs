//! The interactive questionnaire: one question at a time on the terminal, drawn on standard error
//! (so that standard output carries only the report) in raw mode on the alternate screen.

mod wizard;

use std::io::{self, Write};

use crossterm::cursor::{Hide, MoveTo, Show};
use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::style::{Attribute, Print, SetAttribute};
use crossterm::terminal::{self, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{execute, queue};

use crate::error::AssessError;
use crate::lang::Lang;
use crate::score::Answers;

use wizard::{Key, Outcome, Wizard};

/// Asks the eleven questions on the terminal. `color` allows reverse video for the selection.
pub(crate) fn ask(lang: Lang, color: bool) -> Result<Answers, AssessError> {
    let mut out = io::stderr();
    let _guard = RawScreen::enter(&mut out).map_err(AssessError::Terminal)?;
    let mut wizard = Wizard::new();
    loop {
        draw(&mut out, &wizard, lang, color).map_err(AssessError::Terminal)?;
        let key = match event::read().map_err(AssessError::Terminal)? {
            Event::Key(key) => match map_key(key) {
                Some(key) => key,
                None => continue,
            },
            _ => continue,
        };
        match wizard.on_key(key) {
            Outcome::Continue => {}
            Outcome::Done(answers) => return Ok(answers),
            Outcome::Aborted => return Err(AssessError::Aborted),
        }
    }
}

fn map_key(event: KeyEvent) -> Option<Key> {
    if event.kind != KeyEventKind::Press {
        return None;
    }
    let ctrl = event.modifiers.contains(KeyModifiers::CONTROL);
    match event.code {
        KeyCode::Char('c' | 'd') if ctrl => Some(Key::Quit),
        KeyCode::Char(c @ '1'..='5') => c
            .to_digit(10)
            .and_then(|d| u8::try_from(d).ok())
            .map(Key::Digit),
        KeyCode::Up | KeyCode::Char('k') => Some(Key::Up),
        KeyCode::Down | KeyCode::Char('j') => Some(Key::Down),
        KeyCode::Enter => Some(Key::Enter),
        KeyCode::Left | KeyCode::Backspace | KeyCode::Char('b') => Some(Key::Back),
        KeyCode::Esc | KeyCode::Char('q') => Some(Key::Quit),
        _ => None,
    }
}

fn draw(out: &mut impl Write, wizard: &Wizard, lang: Lang, color: bool) -> io::Result<()> {
    let screen = wizard.screen(lang);
    queue!(out, Clear(ClearType::All), MoveTo(0, 0))?;
    for (n, line) in screen.lines.iter().enumerate() {
        let highlight = color && screen.selected_line == Some(n);
        if highlight {
            queue!(out, SetAttribute(Attribute::Reverse))?;
        }
        queue!(out, Print(line))?;
        if highlight {
            queue!(out, SetAttribute(Attribute::Reset))?;
        }
        // Raw mode: a newline does not return the carriage.
        queue!(out, Print("\r\n"))?;
    }
    out.flush()
}

/// Raw mode and the alternate screen for as long as it lives; restored on every exit path.
struct RawScreen;

impl RawScreen {
    fn enter(out: &mut impl Write) -> io::Result<Self> {
        terminal::enable_raw_mode()?;
        let guard = Self;
        execute!(out, EnterAlternateScreen, Hide)?;
        Ok(guard)
    }
}

impl Drop for RawScreen {
    fn drop(&mut self) {
        // Best effort: there is nowhere left to report a failure to restore the terminal.
        let _ = execute!(io::stderr(), Show, LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}
