//! The words of a feedback report in Vietnamese and English: what was
//! wrong with a quarantined row and the contract rule it breaks, written
//! from the reason kind and the column alone (never from a cell), and the
//! names of the record kinds of data-entry lateness.

use crate::present::i18n::Lang;
use crate::reference::contract::{ColType, Table};

/// Vietnamese or English.
pub fn pick(lang: Lang, vi: &str, en: &str) -> String {
    match lang {
        Lang::Vi => vi.to_string(),
        Lang::En => en.to_string(),
    }
}

/// What was wrong, in plain words: (Vietnamese, English), `{column}`
/// standing for the column.
fn what(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "unparseable" => (
            "Giá trị ở cột {column} không đọc được theo kiểu {type}",
            "The value in column {column} cannot be read as {type}",
        ),
        "wrong_field_count" => (
            "Dòng có số trường khác với dòng tiêu đề (thường do thiếu hoặc thừa dấu phẩy, hoặc dấu ngoặc kép không đóng)",
            "The line has a different number of fields from the header (usually a missing or extra comma, or an unclosed quote)",
        ),
        "invalid_utf8" => (
            "Giá trị ở cột {column} không phải văn bản UTF-8",
            "The value in column {column} is not UTF-8 text",
        ),
        "duplicate_key" => (
            "Khóa chính {column} xuất hiện nhiều lần trong tệp; mọi bản trùng đều bị cách ly",
            "The primary key {column} appears more than once in the file; every copy is quarantined",
        ),
        "missing_value" => (
            "Thiếu giá trị bắt buộc ở cột {column}",
            "A required value is missing in column {column}",
        ),
        "not_in_enumeration" => (
            "Giá trị ở cột {column} không thuộc danh sách cho phép: {allowed} (phân biệt chữ hoa, chữ thường và khoảng trắng)",
            "The value in column {column} is not one of: {allowed} (exactly: case and spaces count)",
        ),
        "negative" => (
            "Số ở cột {column} là số âm",
            "The number in column {column} is negative",
        ),
        "after_extract_date" => (
            "Ngày ở cột {column} sau ngày trích xuất",
            "The date in column {column} is after the extract date",
        ),
        "before_start" => (
            "Ngày ở cột {column} sớm hơn ngày mà nó phải theo sau",
            "The date in column {column} is earlier than the date it must follow",
        ),
        "province_code" => (
            "Mã tỉnh ở cột {column} không đúng quy tắc của 34 tỉnh, thành phố từ ngày 01/07/2025",
            "The province code in column {column} breaks the rules of the 34 provinces in force since 2025-07-01",
        ),
        "round" => (
            "Lượt khiếu nại (round) không đúng: khiếu nại phải có lượt 1 hoặc 2; loại vụ việc khác để trống",
            "The round is wrong: a complaint needs round 1 or 2; other case types leave it empty",
        ),
        "account_consistency" => (
            "Các trường tài khoản không khớp nhau (account_id, account_granted_at, account_revoked_at)",
            "The account fields do not go together (account_id, account_granted_at, account_revoked_at)",
        ),
        "unknown_unit" => (
            "Mã đơn vị ở cột {column} không có trong bảng units (đã lưu hoặc trong bản trích xuất này)",
            "The unit code in column {column} is not in units (stored or in this extract)",
        ),
        "unknown_case" => (
            "Mã vụ việc ở cột {column} không có trong bảng cases (đã lưu hoặc trong bản trích xuất này)",
            "The case id in column {column} is not in cases (stored or in this extract)",
        ),
        _ => (
            "Dòng vi phạm một quy tắc của hợp đồng dữ liệu",
            "The row breaks a rule of the data contract",
        ),
    }
}

/// The rule a reason kind breaks, naming the contract section.
fn rule(kind: &str) -> (&'static str, &'static str) {
    match kind {
        "unparseable" => (
            "Hợp đồng dữ liệu, mục 3: mỗi cột có kiểu quy định; ngày viết YYYY-MM-DD, thời điểm YYYY-MM-DD HH:MM[:SS], giá trị logic true/false/1/0",
            "Data contract, section 3: every column has its type; dates YYYY-MM-DD, timestamps YYYY-MM-DD HH:MM[:SS], booleans true/false/1/0",
        ),
        "wrong_field_count" => (
            "Hợp đồng dữ liệu, mục 3: trong tệp CSV, mỗi dòng có đúng số trường của dòng tiêu đề",
            "Data contract, section 3: in a CSV file every line has as many fields as the header",
        ),
        "invalid_utf8" => (
            "Hợp đồng dữ liệu, mục 3: tệp CSV mã hóa UTF-8",
            "Data contract, section 3: CSV files are UTF-8",
        ),
        "duplicate_key" => (
            "Hợp đồng dữ liệu, mục 3: khóa chính là duy nhất trong một tệp",
            "Data contract, section 3: a primary key is unique within a file",
        ),
        "missing_value" => (
            "Hợp đồng dữ liệu, mục 3: mọi cột đều bắt buộc, trừ cột mà quy tắc cho phép để trống",
            "Data contract, section 3: every column is required unless its rule says nullable",
        ),
        "missing_province" => (
            "Hợp đồng dữ liệu, mục 2: đơn vị cấp tỉnh và cấp cơ sở phải có mã tỉnh; chỉ đơn vị trung ương được để trống",
            "Data contract, section 2: provincial and local units need a province code; only a central unit may leave it empty",
        ),
        "not_in_enumeration" => (
            "Hợp đồng dữ liệu, mục 3: giá trị liệt kê phải viết đúng chính xác",
            "Data contract, section 3: enumerations are exact and case-sensitive",
        ),
        "negative" => (
            "Hợp đồng dữ liệu, mục 3: số đếm và số tiền phải ≥ 0",
            "Data contract, section 3: counts and amounts are ≥ 0",
        ),
        "after_extract_date" => (
            "Hợp đồng dữ liệu, mục 3: không ngày nào được sau ngày trích xuất, trừ ngày kết thúc dự kiến (valid_to, assigned_to, ended_on)",
            "Data contract, section 3: no date may fall after the extract date, except the planned ends (valid_to, assigned_to, ended_on)",
        ),
        "before_start" => (
            "Hợp đồng dữ liệu, mục 3: {pair}",
            "Data contract, section 3: {pair}",
        ),
        "province_code" => (
            "Hợp đồng dữ liệu, mục 2: đơn vị lập trước 01/07/2025 mang mã của 63 tỉnh cũ; đơn vị lập từ ngày đó, hoặc còn hiệu lực từ ngày đó, mang một trong 34 mã mới; đợt thanh tra mang một trong 34 mã (Nghị quyết 202/2025/QH15)",
            "Data contract, section 2: a unit created before 2025-07-01 carries one of the 63 former codes; a unit created on or after that day, or still valid on it, carries one of the 34 codes; an inspection carries one of the 34 codes (Resolution 202/2025/QH15)",
        ),
        "round" => (
            "Hợp đồng dữ liệu, mục 3: round là 1 hoặc 2 với khiếu nại, để trống với loại vụ việc khác",
            "Data contract, section 3: round is 1 or 2 for complaints, empty for other case types",
        ),
        "account_consistency" => (
            "Hợp đồng dữ liệu, mục 3: account_granted_at để trống đúng khi account_id để trống; chỉ thu hồi tài khoản đã cấp",
            "Data contract, section 3: account_granted_at is empty exactly when account_id is; only a granted account can be revoked",
        ),
        "unknown_unit" => (
            "Hợp đồng dữ liệu, mục 3: unit_code phải có trong bảng units; có thể gửi lại dòng này trong bản trích xuất sau",
            "Data contract, section 3: unit_code must exist in units; the row can be sent again in a later extract",
        ),
        "unknown_case" => (
            "Hợp đồng dữ liệu, mục 3: case_id phải có trong bảng cases; có thể gửi lại dòng này trong bản trích xuất sau",
            "Data contract, section 3: case_id must exist in cases; the row can be sent again in a later extract",
        ),
        _ => ("Hợp đồng dữ liệu, mục 3", "Data contract, section 3"),
    }
}

/// The two dates a `before_start` column is checked against.
fn pair(table: &str, column: &str) -> (&'static str, &'static str) {
    match (table, column) {
        (_, "valid_to") => ("valid_to ≥ valid_from", "valid_to ≥ valid_from"),
        (_, "assigned_to") => ("assigned_to ≥ assigned_from", "assigned_to ≥ assigned_from"),
        (_, "ended_on") => ("ended_on ≥ started_on", "ended_on ≥ started_on"),
        ("reception_sessions", "db_entered_at") => (
            "db_entered_at không trước session_date",
            "db_entered_at not before session_date",
        ),
        ("case_events", "occurred_at") => (
            "occurred_at không trước received_at của vụ việc",
            "occurred_at not before the case's received_at",
        ),
        ("case_events", "db_entered_at") => (
            "db_entered_at không trước occurred_at",
            "db_entered_at not before occurred_at",
        ),
        (_, "account_revoked_at") => (
            "account_revoked_at không trước account_granted_at",
            "account_revoked_at not before account_granted_at",
        ),
        _ => (
            "ngày kết thúc không trước ngày bắt đầu",
            "an end not before its start",
        ),
    }
}

fn type_words(lang: Lang, ty: ColType) -> String {
    match (lang, ty) {
        (Lang::En, _) => ty.describe().to_string(),
        (Lang::Vi, ColType::Text) => "văn bản".into(),
        (Lang::Vi, ColType::Date) => "ngày (YYYY-MM-DD)".into(),
        (Lang::Vi, ColType::Timestamp) => "thời điểm (YYYY-MM-DD HH:MM[:SS])".into(),
        (Lang::Vi, ColType::Bool) => "giá trị logic (true/false/1/0)".into(),
        (Lang::Vi, ColType::Int32) => "số nguyên 32 bit".into(),
        (Lang::Vi, ColType::Int64) => "số nguyên 64 bit".into(),
    }
}

/// What was wrong with a quarantined row and the rule it breaks, from
/// its table, column and reason kind (the contract supplies the type and
/// the allowed values; nothing comes from the row).
pub fn reason(lang: Lang, table: &str, column: Option<&str>, kind: &str) -> (String, String) {
    let col = Table::from_name(table).and_then(|t| column.and_then(|c| t.column(c)));
    let (vi, en) = what(kind);
    let what = pick(lang, vi, en)
        .replace("{column}", column.unwrap_or("—"))
        .replace(
            "{type}",
            &col.map(|c| type_words(lang, c.ty)).unwrap_or_default(),
        )
        .replace(
            "{allowed}",
            &col.map(|c| c.allowed.join(", ")).unwrap_or_default(),
        );
    let (vi, en) = match (kind, column) {
        ("missing_value", Some("province_code")) => rule("missing_province"),
        _ => rule(kind),
    };
    let (pvi, pen) = pair(table, column.unwrap_or_default());
    let rule = pick(lang, vi, en).replace("{pair}", &pick(lang, pvi, pen));
    (what, rule)
}

/// The name of a record kind of `late_entries.sql`.
pub fn record_kind(lang: Lang, kind: &str) -> String {
    let (vi, en) = match kind {
        "reception_session" => ("Buổi tiếp công dân", "Reception session"),
        "case_event_accepted" => ("Thụ lý vụ việc", "Case accepted"),
        "case_event_extended" => ("Gia hạn giải quyết", "Settlement extended"),
        "case_event_transferred" => ("Chuyển đơn", "Case transferred"),
        "case_event_settled" => ("Giải quyết xong", "Case settled"),
        other => (other, other),
    };
    pick(lang, vi, en)
}

/// The state of a late record.
pub fn entry_status(lang: Lang, status: &str) -> String {
    match status {
        "not_entered" => pick(lang, "Chưa nhập, đã quá hạn", "Not entered, already late"),
        _ => pick(lang, "Nhập muộn", "Entered late"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_kind_of_the_contract_has_its_own_words() {
        for kind in [
            "unparseable",
            "wrong_field_count",
            "invalid_utf8",
            "duplicate_key",
            "missing_value",
            "not_in_enumeration",
            "negative",
            "after_extract_date",
            "before_start",
            "province_code",
            "round",
            "account_consistency",
            "unknown_unit",
            "unknown_case",
        ] {
            assert_ne!(what(kind), what("something_else"), "{kind}");
            assert_ne!(rule(kind), rule("something_else"), "{kind}");
        }
    }

    #[test]
    fn reasons_name_the_column_and_the_rule_from_the_contract() {
        let (what, rule) = reason(
            Lang::Vi,
            "reception_sessions",
            Some("kind"),
            "not_in_enumeration",
        );
        assert_eq!(
            what,
            "Giá trị ở cột kind không thuộc danh sách cho phép: periodic, irregular (phân biệt chữ hoa, chữ thường và khoảng trắng)"
        );
        assert!(rule.starts_with("Hợp đồng dữ liệu, mục 3"));
        let (_, rule) = reason(
            Lang::En,
            "case_events",
            Some("db_entered_at"),
            "before_start",
        );
        assert_eq!(
            rule,
            "Data contract, section 3: db_entered_at not before occurred_at"
        );
        let (what, _) = reason(Lang::En, "cases", Some("remote_area"), "unparseable");
        assert!(what.ends_with("boolean (true/false/1/0)"), "{what}");
    }
}
