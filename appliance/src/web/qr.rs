//! QR codes as inline SVG (the `qrcode` crate), for the booth's receipt.

use qrcode::QrCode;
use qrcode::render::svg;

/// An SVG QR code of `text`, without the XML declaration so that it can sit
/// inside HTML; `label` names it for screen readers.
pub fn svg(text: &str, label: &str) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let image = code
        .render::<svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let body = image.trim_start_matches(|c| c != '<');
    let body = match body.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or(rest, |(_, r)| r),
        None => body,
    };
    let label = maud::html! { (label) }.into_string();
    Some(body.replacen(
        "<svg",
        &format!("<svg role=\"img\" aria-label=\"{label}\" focusable=\"false\""),
        1,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn renders_an_inline_svg_with_a_label() {
        let s = super::svg("http://127.0.0.1:8001/board/track?code=0xab", "a \"code\"").unwrap();
        assert!(
            s.starts_with("<svg role=\"img\" aria-label=\"a &quot;code&quot;\""),
            "{}",
            &s[..80]
        );
        assert!(s.ends_with("</svg>"));
        assert!(!s.contains("<?xml"));
    }
}
