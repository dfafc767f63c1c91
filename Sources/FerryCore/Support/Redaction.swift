import Foundation

/// Keeps secrets out of everything Ferry prints or writes (SPEC §9).
public enum Redaction {
    /// Query parameters whose values are secret.
    static let secretParameters: Set<String> = [
        "password", "pass", "pwd", "secret", "token", "key", "access_key", "secret_key",
        "x-amz-signature", "x-amz-credential", "x-amz-security-token", "signature", "sig", "auth",
    ]

    /// The URL with any password and secret query values replaced by `***`.
    public static func redactURL(_ text: String) -> String {
        guard var components = URLComponents(string: text), components.scheme != nil else {
            // Not a URL we can parse: mask anything between "://user:" and "@".
            return maskUserInfo(text)
        }
        if components.password != nil { components.password = "***" }
        if let items = components.queryItems {
            components.queryItems = items.map { item in
                secretParameters.contains(item.name.lowercased()) ? URLQueryItem(name: item.name, value: "***") : item
            }
        }
        return components.string?.replacingOccurrences(of: "%2A%2A%2A", with: "***") ?? maskUserInfo(text)
    }

    static func maskUserInfo(_ text: String) -> String {
        guard let scheme = text.range(of: "://"), let at = text[scheme.upperBound...].firstIndex(of: "@") else {
            return text
        }
        let userInfo = text[scheme.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return text }
        return String(text[..<colon]) + ":***" + String(text[at...])
    }
}
