//! The second opinion on a 401: XML-RPC takes the username and application
//! password in the request body, so a web server that strips the
//! Authorization header cannot hide them. If XML-RPC accepts what the REST
//! API did not, the header is being stripped.

use reqwest::Method;

use super::WpClient;

/// What `wp.getProfile` said about our credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XmlRpcVerdict {
    Accepted,
    /// The fault string (e.g. "Incorrect username or password.").
    Rejected(String),
    /// XML-RPC is off or blocked; why.
    Unavailable(String),
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn request_body(user: &str, password: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>wp.getProfile</methodName><params>\
         <param><value><int>1</int></value></param>\
         <param><value><string>{}</string></value></param>\
         <param><value><string>{}</string></value></param>\
         <param><value><array><data><value><string>user_id</string></value></data></array></value></param>\
         </params></methodCall>",
        escape(user),
        escape(password)
    )
}

/// Reads a methodResponse: a struct with user_id, or a fault.
pub(crate) fn verdict(body: &str) -> XmlRpcVerdict {
    if !body.contains("<methodResponse") {
        return XmlRpcVerdict::Unavailable("the answer is not an XML-RPC response".into());
    }
    if !body.contains("<fault>") {
        return if body.contains("<name>user_id</name>") {
            XmlRpcVerdict::Accepted
        } else {
            XmlRpcVerdict::Unavailable("unexpected XML-RPC answer".into())
        };
    }
    let code = between(body, "<int>", "</int>")
        .or_else(|| between(body, "<i4>", "</i4>"))
        .unwrap_or_default();
    let fault = between(body, "<string>", "</string>").unwrap_or_default();
    match code.trim() {
        "403" => XmlRpcVerdict::Rejected(fault),
        "405" => XmlRpcVerdict::Unavailable(format!("XML-RPC is disabled on the site ({fault})")),
        other => XmlRpcVerdict::Unavailable(format!("XML-RPC fault {other}: {fault}")),
    }
}

fn between(s: &str, open: &str, close: &str) -> Option<String> {
    let start = s.find(open)? + open.len();
    let len = s[start..].find(close)?;
    Some(s[start..start + len].to_string())
}

impl WpClient {
    /// Asks `xmlrpc.php` whether our username and password are right.
    pub async fn xmlrpc_check(&self) -> XmlRpcVerdict {
        let Ok(url) = self.home().join("xmlrpc.php") else {
            return XmlRpcVerdict::Unavailable("no xmlrpc.php URL".into());
        };
        let req = self
            .http
            .request(Method::POST, url.clone())
            .header(reqwest::header::CONTENT_TYPE, "text/xml")
            .body(request_body(
                self.username(),
                // Read by `WpClient::new` already.
                self.password.expose().unwrap_or_default(),
            ));
        match self.send_raw(req, &url, self.timeout).await {
            Err(e) => XmlRpcVerdict::Unavailable(e.to_string()),
            Ok(r) if !r.status.is_success() => {
                XmlRpcVerdict::Unavailable(format!("xmlrpc.php answered {}", r.status.as_u16()))
            }
            Ok(r) => verdict(&String::from_utf8_lossy(&r.body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_escaped_into_the_call() {
        let body = request_body("a<b", "p&w");
        assert!(body.contains("<string>a&lt;b</string>"));
        assert!(body.contains("<string>p&amp;w</string>"));
    }

    #[test]
    fn reads_success_fault_and_disabled() {
        let ok = "<?xml version=\"1.0\"?><methodResponse><params><param><value><struct>\
                  <member><name>user_id</name><value><string>1</string></value></member>\
                  </struct></value></param></params></methodResponse>";
        assert_eq!(verdict(ok), XmlRpcVerdict::Accepted);
        let fault = "<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>403</int></value></member>\
                     <member><name>faultString</name><value><string>Incorrect username or password.</string></value></member>\
                     </struct></value></fault></methodResponse>";
        assert_eq!(
            verdict(fault),
            XmlRpcVerdict::Rejected("Incorrect username or password.".into())
        );
        let off = fault.replace("403", "405").replace(
            "Incorrect username or password.",
            "XML-RPC services are disabled on this site.",
        );
        assert!(matches!(verdict(&off), XmlRpcVerdict::Unavailable(m) if m.contains("disabled")));
        assert!(matches!(
            verdict("<html>blocked</html>"),
            XmlRpcVerdict::Unavailable(_)
        ));
    }
}
