//! The words of a one-time-code message, in the person's language: the send's `locale` if the
//! server has texts in it, else the project's `messages.default_locale`, else English; each text
//! the project's own for that language when it set one, else the built-in one.

use std::collections::HashMap;

use access_types::{Channel, Locale, MessageTemplates, ProjectMessages};

use crate::error::{ApiError, ApiResult};

/// What is sent: the email's subject, the text (email body, SMS, WhatsApp session message, the
/// dev outbox), and WhatsApp's approved template when one applies.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub locale: Locale,
    pub subject: String,
    pub body: String,
    pub whatsapp_template: Option<String>,
}

/// Longest text a project may set (characters).
pub const MAX_TEXT_CHARS: usize = 1000;

struct Builtin {
    subject: &'static str,
    email_body: &'static str,
    sms: &'static str,
}

fn builtin(locale: Locale) -> Builtin {
    match locale {
        Locale::En => Builtin {
            subject: "Your sign-in code",
            email_body: "Your sign-in code is {code}. It expires in {minutes} minutes. Never share it.",
            sms: "Your sign-in code is {code}. It expires in {minutes} minutes. Never share it.",
        },
        Locale::Es => Builtin {
            subject: "Tu código de acceso",
            email_body: "Tu código de acceso es {code}. Caduca en {minutes} minutos. No lo compartas con nadie.",
            sms: "Tu código de acceso es {code}. Caduca en {minutes} minutos. No lo compartas.",
        },
    }
}

/// The language of a BCP 47 tag (`es-MX` → `es`), if the server has texts in it.
pub fn locale_of(tag: &str) -> Option<Locale> {
    let primary = tag.split(['-', '_']).next()?.trim().to_ascii_lowercase();
    Locale::parse(&primary)
}

/// The texts for a send on `channel` asking for `requested` (a BCP 47 tag), in `project`.
/// `whatsapp_defaults`: the server's approved WhatsApp templates by language.
pub fn render(
    project: &ProjectMessages,
    requested: Option<&str>,
    channel: Channel,
    code: &str,
    minutes: u64,
    whatsapp_defaults: &HashMap<String, String>,
) -> Rendered {
    let locale = requested
        .and_then(locale_of)
        .or(project.default_locale)
        .unwrap_or(Locale::En);
    let own = project.templates.get(locale.as_str());
    let base = builtin(locale);
    let pick = |own: Option<&String>, base: &str| {
        own.map(String::as_str)
            .unwrap_or(base)
            .replace("{code}", code)
            .replace("{minutes}", &minutes.to_string())
    };
    let own_field = |f: fn(&MessageTemplates) -> Option<&String>| own.and_then(f);
    let body = match channel {
        Channel::Email => pick(own_field(|t| t.email_body.as_ref()), base.email_body),
        Channel::Sms | Channel::Whatsapp => pick(own_field(|t| t.sms.as_ref()), base.sms),
    };
    let whatsapp_template = (channel == Channel::Whatsapp)
        .then(|| {
            own_field(|t| t.whatsapp_template.as_ref())
                .or_else(|| whatsapp_defaults.get(locale.as_str()))
                .cloned()
        })
        .flatten();
    Rendered {
        locale,
        subject: pick(own_field(|t| t.email_subject.as_ref()), base.subject),
        body,
        whatsapp_template,
    }
}

/// Refuses a project's messages that could not be sent: a language the server has no texts in,
/// a text without `{code}` or too long, a WhatsApp template id that is not a plain token.
pub fn validate(m: &ProjectMessages) -> ApiResult<()> {
    for (lang, t) in &m.templates {
        if Locale::parse(lang).is_none() {
            return Err(ApiError::bad_request(format!(
                "messages.templates: no language {lang:?} (en, es)"
            )));
        }
        for (name, text) in [
            ("email_subject", &t.email_subject),
            ("email_body", &t.email_body),
            ("sms", &t.sms),
        ] {
            let Some(text) = text else { continue };
            // The subject may leave the code out; a body that does would send nothing useful.
            if name != "email_subject" && !text.contains("{code}") {
                return Err(ApiError::bad_request(format!(
                    "messages.templates.{lang}.{name} must contain {{code}}"
                )));
            }
            if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS {
                return Err(ApiError::bad_request(format!(
                    "messages.templates.{lang}.{name} must be 1 to {MAX_TEXT_CHARS} characters"
                )));
            }
        }
        if let Some(id) = &t.whatsapp_template
            && (id.is_empty()
                || id.len() > 64
                || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        {
            return Err(ApiError::bad_request(format!(
                "messages.templates.{lang}.whatsapp_template must be a template id (letters, digits, _)"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn es_default() -> ProjectMessages {
        ProjectMessages {
            default_locale: Some(Locale::Es),
            ..Default::default()
        }
    }

    #[test]
    fn the_language_is_the_sends_then_the_projects_then_english() {
        let none = HashMap::new();
        let r = render(
            &es_default(),
            Some("en-GB"),
            Channel::Email,
            "123456",
            10,
            &none,
        );
        assert_eq!(r.locale, Locale::En);
        assert!(r.body.contains("123456") && r.body.contains("10 minutes"));
        let r = render(
            &es_default(),
            Some("fr-FR"),
            Channel::Sms,
            "123456",
            10,
            &none,
        );
        assert_eq!(r.locale, Locale::Es);
        assert!(r.body.starts_with("Tu código de acceso es 123456"));
        let r = render(
            &ProjectMessages::default(),
            None,
            Channel::Sms,
            "1",
            10,
            &none,
        );
        assert_eq!(r.locale, Locale::En);
    }

    #[test]
    fn a_projects_text_replaces_the_builtin_one_and_whatsapp_gets_a_template() {
        let mut m = es_default();
        m.templates.insert(
            "es".into(),
            MessageTemplates {
                sms: Some("Hola: {code} ({minutes} min)".into()),
                whatsapp_template: Some("HXabc".into()),
                ..Default::default()
            },
        );
        validate(&m).unwrap();
        let defaults = HashMap::from([("en".to_string(), "HXen".to_string())]);
        let r = render(&m, None, Channel::Whatsapp, "654321", 5, &defaults);
        assert_eq!(r.body, "Hola: 654321 (5 min)");
        assert_eq!(r.whatsapp_template.as_deref(), Some("HXabc"));
        assert_eq!(r.subject, "Tu código de acceso");
        let r = render(&m, Some("en"), Channel::Whatsapp, "654321", 5, &defaults);
        assert_eq!(r.whatsapp_template.as_deref(), Some("HXen"));
        let r = render(&m, Some("en"), Channel::Sms, "654321", 5, &defaults);
        assert_eq!(r.whatsapp_template, None);
    }

    #[test]
    fn texts_that_could_not_be_sent_are_refused() {
        let with = |t: MessageTemplates, lang: &str| {
            let mut m = ProjectMessages::default();
            m.templates.insert(lang.into(), t);
            validate(&m)
        };
        let no_code = MessageTemplates {
            sms: Some("Hola".into()),
            ..Default::default()
        };
        assert!(with(no_code, "es").is_err());
        let fine = MessageTemplates {
            sms: Some("{code}".into()),
            ..Default::default()
        };
        assert!(with(fine.clone(), "fr").is_err());
        assert!(with(fine, "en").is_ok());
        let long = MessageTemplates {
            email_body: Some(format!("{{code}}{}", "x".repeat(MAX_TEXT_CHARS))),
            ..Default::default()
        };
        assert!(with(long, "en").is_err());
        let bad_id = MessageTemplates {
            whatsapp_template: Some("HX 1; drop".into()),
            ..Default::default()
        };
        assert!(with(bad_id, "en").is_err());
    }
}
