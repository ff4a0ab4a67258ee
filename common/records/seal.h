// Session seals (DESIGN.md "Service records"): the signed seal message, the
// seal-N.sshsig files in a session folder, and the verifier that checks a
// whole folder (chain, seals, attachments) and names the first bad line or
// file.
//
// SSHSIG does not carry the message it signs, so nothing in a seal file can
// be trusted to say what it covers: the verifier rebuilds the message from
// the chain and the folder and lets the signature decide.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"
#include "common/records/chain.h"
#include "common/result.h"
#include "common/ssh_key.h"

namespace rdiag::records {

inline constexpr std::string_view kSealMagic = "rdiag-seal-v1";
inline constexpr std::string_view kEventsFile = "events.jsonl";

// Bounds for reading a folder that may have been written by an attacker.
inline constexpr std::size_t kMaxEventsFileBytes = std::size_t{256} << 20;
inline constexpr std::size_t kMaxSealFileBytes = std::size_t{64} << 10;
inline constexpr std::size_t kMaxSealFiles = 10000;
inline constexpr std::size_t kMaxAttachments = 10000;

struct Attachment {
  std::string name;    // [A-Za-z0-9._-]+, not "." or ".."
  std::string sha256;  // 64 lower-case hex
};

// Whether name may be an attachment (and so appear on a seal line).
bool is_valid_attachment_name(std::string_view name);

// "rdiag-seal-v1\n<session_id>\n<last_seq>\n<last_hash>\n" then one
// "<name> <sha256>\n" per attachment, sorted by name. Refuses (reason
// "bad_seal_input") anything that would make the text ambiguous: a session id
// with control characters or spaces, a negative seq, a hash or digest that is
// not 64 lower hex, an invalid or duplicate attachment name.
Result<std::string> seal_message(std::string_view session_id, std::int64_t last_seq,
                                 std::string_view last_hash,
                                 const std::vector<Attachment>& attachments);

// Lower-case hex SHA-256, as sha256sum prints it (common/digest.h).
using rdiag::sha256_hex;

// The same for a file, read in chunks so a large cast costs no memory. Does
// not follow a symlink and refuses anything but a regular file (reason
// "io_error"): an attachment is the file in the folder, not what it points to.
Result<std::string> sha256_file_hex(const std::string& path);

// Highest N of the seal-N.sshsig files in session_dir, 0 when there are none.
Result<int> latest_seal_index(const std::string& session_dir);

// Every attachment in session_dir (every entry other than events.jsonl and
// seal-*.sshsig), hashed and sorted by name. Refuses an invalid name or an
// entry that is not a regular file (reason "bad_attachment", the message
// names it).
Result<std::vector<Attachment>> list_attachments(const std::string& session_dir);

// Writes seal-<N+1>.sshsig (N = latest_seal_index) holding the SSHSIG of
// seal_message(session_id, chain.last_seq, chain.last_hash, attachments)
// under kSealNamespace; atomically, never replacing an existing file (a
// concurrent writer gets reason "seal_exists"). Refuses a chain that did not
// verify. Returns the file name ("seal-3.sshsig").
Result<std::string> write_seal(const std::string& session_dir, const Ed25519PrivateKey& seal_key,
                               std::string_view session_id, const ChainCheck& chain,
                               const std::vector<Attachment>& attachments);

struct SealCheck {
  // True when the chain verifies and every seal verifies; an unsealed tail
  // (events after the latest seal) still counts as ok: the session may be
  // open, or a rating may be on its way to the next seal.
  bool ok = false;
  std::string file;          // the bad file ("events.jsonl", "seal-2.sshsig", ...)
  std::size_t bad_line = 0;  // for events.jsonl: 1-based, from ChainCheck
  // Chain reasons (ChainCheck), or io_error, bad_attachment, bad_seal_name,
  // seal_gap, untrusted_signer, bad_seal, malformed, unsupported,
  // wrong_namespace; "unsealed_tail" with ok == true.
  std::string reason;
  std::string message;
  std::int64_t covered_seq = 0;      // what the latest seal covers
  std::int64_t unsealed_events = 0;  // chain events after the latest seal
  int seals = 0;                     // how many seal files verified
};

// Verifies the session folder: the chain in events.jsonl (starting at
// genesis_prev), every seal-N.sshsig (N = 1, 2, ... without gaps, each by a
// trusted key and covering a prefix no shorter than the seal before), and the
// attachments against the latest seal. Several trusted fingerprints let old
// records keep verifying after a seal key rotation. Never throws.
SealCheck verify_session_dir(const std::string& session_dir, std::string_view session_id,
                             std::string_view genesis_prev,
                             const std::vector<std::string>& trusted_seal_fingerprints);

}  // namespace rdiag::records
