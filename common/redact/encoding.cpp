// Placeholder until the redaction engine lands (helper C overwrites this file).
namespace rdiag::redact {}
