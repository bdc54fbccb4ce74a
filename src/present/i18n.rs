//! Languages of the web pages and charts: Vietnamese (the default) and
//! English. Owns every label a reader sees, and how numbers and dates are
//! written in each language.
//!
//! Labels live in one table here rather than in templates so that a label
//! missing in one language is caught by a test, not by a reader.

use chrono::NaiveDate;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Vi,
    En,
}

impl Lang {
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "vi" => Some(Lang::Vi),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Vi => Lang::En,
            Lang::En => Lang::Vi,
        }
    }
}

/// (key, Vietnamese, English).
const LABELS: &[(&str, &str, &str)] = &[
    // Navigation and page furniture
    (
        "app_title",
        "vigil — Giám sát tiếp công dân, khiếu nại, tố cáo",
        "vigil — Citizen reception, complaints and denunciations monitor",
    ),
    ("nav_league", "Bảng xếp hạng", "League table"),
    ("nav_national", "Toàn quốc", "National overview"),
    ("nav_status", "Tình trạng dữ liệu", "Data status"),
    ("nav_dashboards", "Bảng điều khiển", "Dashboards"),
    ("switch_language", "English", "Tiếng Việt"),
    ("period", "Kỳ", "Period"),
    ("as_of", "Dữ liệu đến ngày", "Data as of"),
    ("counted_to", "tính đến ngày", "counted to"),
    ("show", "Xem", "Show"),
    ("download", "Tải về", "Download"),
    ("print", "In", "Print"),
    ("no_rows", "Không có dữ liệu", "No data"),
    ("province", "Tỉnh, thành phố", "Province"),
    (
        "back_to_league",
        "Về bảng xếp hạng",
        "Back to the league table",
    ),
    ("generated", "Lập lúc", "Generated"),
    ("reasons_title", "Vì sao xếp hạng này", "Why this tier"),
    ("api", "API", "API"),
    ("error", "Lỗi", "Error"),
    // Columns
    ("rank", "Hạng", "Rank"),
    ("rank_interval", "Khoảng hạng (90%)", "Rank interval (90%)"),
    ("province_code", "Mã", "Code"),
    ("province_name", "Tỉnh, thành phố", "Province"),
    ("composite", "Điểm tổng hợp", "Composite"),
    ("tier", "Xếp loại", "Tier"),
    ("reception_score", "Tiếp công dân", "Reception"),
    ("deadlines_score", "Đúng hạn", "Deadlines"),
    ("data_entry_score", "Nhập dữ liệu", "Data entry"),
    (
        "change",
        "Thay đổi so với kỳ trước",
        "Change on previous period",
    ),
    ("indicator", "Chỉ tiêu", "Indicator"),
    ("numerator", "Tử số", "Numerator"),
    ("denominator", "Mẫu số", "Denominator"),
    ("value", "Giá trị", "Value"),
    ("national_value", "Cả nước", "National"),
    ("trend", "Xu hướng", "Trend"),
    ("prev_value", "Kỳ trước", "Previous period"),
    ("prev_composite", "Điểm kỳ trước", "Previous composite"),
    ("n", "Số vụ việc đến hạn", "Cases due"),
    ("lower_95", "Giới hạn dưới 95%", "Lower 95% limit"),
    ("lower_998", "Giới hạn dưới 99,8%", "Lower 99.8% limit"),
    ("extract_date", "Ngày trích xuất", "Extract date"),
    ("source", "Nguồn", "Source"),
    ("ingested_at", "Nạp lúc", "Ingested at"),
    ("rows_accepted", "Dòng được nhận", "Rows accepted"),
    ("rows_quarantined", "Dòng bị cách ly", "Rows quarantined"),
    ("reason_kind", "Lý do", "Reason"),
    ("rows", "Số dòng", "Rows"),
    ("table_name", "Bảng", "Table"),
    ("current_rows", "Dòng hiện hành", "Current rows"),
    ("rate", "Tỷ lệ", "Rate"),
    ("flag", "Cảnh báo", "Flag"),
    ("provinces", "Số tỉnh", "Provinces"),
    ("band", "Khoảng điểm", "Score band"),
    // Tiers
    ("tier_A", "A — Tốt", "A — Good"),
    ("tier_B", "B — Khá", "B — Fair"),
    ("tier_C", "C — Trung bình", "C — Weak"),
    ("tier_D", "D — Kém", "D — Poor"),
    ("tier_insufficient", "Chưa đủ dữ liệu", "Insufficient data"),
    // Indicators
    (
        "r1_head_reception",
        "Người đứng đầu tiếp công dân định kỳ",
        "Head holds periodic reception",
    ),
    (
        "r2_head_share",
        "Tỷ lệ buổi tiếp do người đứng đầu chủ trì",
        "Share of sessions led by the head",
    ),
    (
        "d1_acceptance_on_time",
        "Thụ lý đúng hạn",
        "Acceptance on time",
    ),
    (
        "d2_settlement_on_time",
        "Giải quyết đúng hạn",
        "Settlement on time",
    ),
    (
        "d3_vssid_response",
        "Trả lời VssID đúng hạn",
        "VssID answered on time",
    ),
    (
        "d4_backlog_health",
        "Hồ sơ tồn chưa quá hạn",
        "Backlog not overdue",
    ),
    (
        "e1_entry_coverage",
        "Vụ việc được nhập vào CSDL quốc gia",
        "Cases entered in the national database",
    ),
    (
        "e2_entry_timeliness",
        "Nhập CSDL kịp thời",
        "Entered on time",
    ),
    (
        "e3_record_completeness",
        "Hồ sơ nhập đầy đủ",
        "Complete records",
    ),
    (
        "e4_account_coverage",
        "Đơn vị có tài khoản CSDL",
        "Units with a database account",
    ),
    (
        "e5_account_hygiene",
        "Tài khoản được thu hồi kịp thời",
        "Accounts closed on time",
    ),
    (
        "x1_repeat_requests",
        "Đơn lặp lại (theo dõi)",
        "Repeat requests (monitoring)",
    ),
    (
        "x2_recovery_rate",
        "Tỷ lệ thu hồi (theo dõi)",
        "Recovery rate (monitoring)",
    ),
    // Reasons
    (
        "reason_tier",
        "Điểm tổng hợp {composite} — xếp loại {tier}.",
        "Composite {composite}: tier {tier}.",
    ),
    (
        "reason_insufficient",
        "Chưa đủ dữ liệu: cần ít nhất hai lĩnh vực có điểm.",
        "Not enough data: at least two areas need a score.",
    ),
    (
        "reason_weak",
        "{indicator}: {value} (cả nước {national}; {num}/{den}).",
        "{indicator}: {value} (national {national}; {num}/{den}).",
    ),
    (
        "reason_strong",
        "Tốt hơn cả nước: {indicator} {value} (cả nước {national}).",
        "Better than the nation: {indicator} {value} (national {national}).",
    ),
    (
        "reason_no_data",
        "{indicator}: không có dữ liệu trong kỳ.",
        "{indicator}: no data in the period.",
    ),
    (
        "reason_funnel_low",
        "Giải quyết đúng hạn thấp hơn giới hạn kiểm soát 99,8% của biểu đồ phễu.",
        "Settlement on time is below the 99.8% control limit of the funnel plot.",
    ),
    // Inspection plan
    ("nav_plan", "Kế hoạch thanh tra", "Inspection plan"),
    ("nav_report", "Báo cáo quý", "Quarterly report"),
    ("nav_feedback", "Phản hồi dữ liệu", "Data feedback"),
    ("nav_sql", "Truy vấn SQL", "SQL"),
    (
        "sql_console",
        "Truy vấn SQL (chỉ đọc)",
        "SQL console (read-only)",
    ),
    ("run", "Chạy", "Run"),
    ("tables", "Bảng và cột", "Tables and columns"),
    ("login", "Đăng nhập", "Log in"),
    ("logout", "Đăng xuất", "Log out"),
    ("user_name", "Tên đăng nhập", "User name"),
    ("password", "Mật khẩu", "Password"),
    (
        "login_failed",
        "Sai tên đăng nhập hoặc mật khẩu.",
        "Wrong user name or password.",
    ),
    (
        "login_throttled",
        "Quá nhiều lần đăng nhập sai. Hãy thử lại sau {s} giây.",
        "Too many failed logins. Try again in {s} seconds.",
    ),
    (
        "change_composite",
        "Điểm tổng hợp từ {from} ({from_period}) thành {to} ({to_period}): {change} điểm",
        "Composite from {from} ({from_period}) to {to} ({to_period}): {change} points",
    ),
    (
        "change_undefined",
        "Không có điểm tổng hợp ở một trong hai kỳ: chỉ so sánh được điểm từng lĩnh vực.",
        "No composite in one of the two periods: only the area scores compare.",
    ),
    ("points", "điểm", "points"),
    ("nav_alerts", "Cảnh báo", "Alerts"),
    (
        "merger_marker",
        "Sáp nhập tỉnh 1/7/2025",
        "Provinces merged 1 Jul 2025",
    ),
    (
        "few_cases_note",
        " — ít số liệu (n = {n}): khoảng tin cậy 95 % từ {lo} đến {hi}",
        " — few cases (n = {n}): 95 % interval {lo} to {hi}",
    ),
    ("alerts_title", "Cảnh báo", "Alerts"),
    ("alerts_open", "Đang mở", "Open"),
    ("alerts_cleared", "Đã hết gần đây", "Recently cleared"),
    (
        "alerts_none",
        "Không có cảnh báo nào đang mở.",
        "No alert is open.",
    ),
    (
        "alerts_none_cleared",
        "Chưa có cảnh báo nào hết.",
        "No alert has cleared yet.",
    ),
    ("alert_rule", "Quy tắc", "Rule"),
    ("alert_province", "Tỉnh, thành phố", "Province"),
    ("alert_detail", "Nội dung", "What"),
    ("alert_since", "Từ bản trích", "Since extract"),
    ("alert_last", "Bản trích gần nhất", "Last seen"),
    ("alert_cleared", "Hết từ bản trích", "Cleared at"),
    (
        "alerts_as_of",
        "Đánh giá theo bản trích {date}",
        "Evaluated as of extract {date}",
    ),
    (
        "alerts_never",
        "Chưa đánh giá lần nào: các quy tắc chạy khi một bản trích được nạp.",
        "Not evaluated yet: the rules run when an extract lands.",
    ),
    ("national", "Toàn quốc", "National"),
    (
        "weights_renormalised",
        "trọng số được chia lại vì một chỉ tiêu cùng lĩnh vực có hoặc mất số liệu",
        "weights renormalised: an indicator of its area gained or lost data",
    ),
    ("rounding_residue", "Phần làm tròn", "Rounding"),
    ("no_value", "không có số liệu", "no data"),
    ("quarter", "Quý kế hoạch", "Planning quarter"),
    ("capacity", "Số đoàn thanh tra", "Capacity"),
    ("evidence_title", "Hồ sơ chứng cứ", "Evidence pack"),
    ("scored_from", "Rủi ro tính từ", "Risk from"),
    ("order", "Thứ tự", "Order"),
    ("risk", "Rủi ro", "Risk"),
    ("term_composite", "Điểm thấp", "Low score"),
    ("term_decline", "Giảm điểm", "Decline"),
    ("term_backlog", "Tồn quá hạn", "Backlog"),
    (
        "term_recency",
        "Lâu chưa thanh tra",
        "Time since inspection",
    ),
    ("reasons", "Lý do", "Reasons"),
    (
        "last_inspection",
        "Thanh tra trách nhiệm gần nhất",
        "Last responsibility inspection",
    ),
    ("months_since_inspection", "Số tháng", "Months"),
    ("override_applied", "Áp dụng ngưỡng 0,70", "0.70 override"),
    (
        "overdue_cases",
        "Vụ việc quá hạn chưa giải quyết xong",
        "Open overdue cases",
    ),
    (
        "head_reception_gaps",
        "Tháng người đứng đầu không tiếp công dân",
        "Unit-months without head reception",
    ),
    ("stale_accounts", "Tài khoản chưa thu hồi", "Stale accounts"),
    (
        "entry_gaps",
        "Hồ sơ chưa nhập hoặc nhập muộn",
        "Records not entered or entered late",
    ),
    (
        "repeat_requesters",
        "Người gửi đơn nhiều lần (mã ẩn danh)",
        "Repeat requesters (pseudonymous)",
    ),
    ("inspections", "Các cuộc thanh tra", "Inspections"),
    (
        "composite_history",
        "Điểm tổng hợp và các cuộc thanh tra",
        "Composite and inspections",
    ),
    ("case_id", "Mã vụ việc", "Case"),
    ("case_type", "Loại", "Type"),
    ("unit_code", "Đơn vị", "Unit"),
    ("stage", "Giai đoạn", "Stage"),
    ("start_date", "Bắt đầu", "Start"),
    ("deadline", "Hạn", "Deadline"),
    ("days_overdue", "Số ngày quá hạn", "Days overdue"),
    ("last_event", "Sự kiện cuối", "Last event"),
    ("last_event_date", "Ngày sự kiện cuối", "Last event date"),
    ("unit_name", "Tên đơn vị", "Unit name"),
    ("month", "Tháng", "Month"),
    ("account_id", "Tài khoản", "Account"),
    ("official_ref", "Mã cán bộ", "Official"),
    ("assignment_ended", "Hết nhiệm vụ", "Assignment ended"),
    ("days_since_end", "Số ngày", "Days since"),
    ("account_granted", "Cấp tài khoản", "Granted"),
    ("last_login", "Đăng nhập cuối", "Last login"),
    ("record_kind", "Loại hồ sơ", "Record"),
    ("record_id", "Mã", "Id"),
    ("occurred_date", "Ngày phát sinh", "Occurred"),
    ("entered_date", "Ngày nhập", "Entered"),
    ("working_days", "Ngày làm việc", "Working days"),
    ("status", "Trạng thái", "Status"),
    (
        "requester_ref",
        "Mã người gửi (ẩn danh)",
        "Requester (pseudonym)",
    ),
    ("repeat_cases", "Số đơn lặp lại", "Repeat cases"),
    ("first_repeat", "Lần đầu", "First"),
    ("last_repeat", "Lần cuối", "Last"),
    ("case_ids", "Các vụ việc", "Cases"),
    ("inspection_id", "Mã cuộc thanh tra", "Inspection"),
    ("kind", "Loại", "Kind"),
    ("started_on", "Bắt đầu", "Started"),
    ("ended_on", "Kết thúc", "Ended"),
    ("findings_count", "Số phát hiện", "Findings"),
    ("responsibility", "Trách nhiệm", "Responsibility"),
    ("thematic", "Chuyên đề", "Thematic"),
    ("ad_hoc", "Đột xuất", "Ad hoc"),
    ("not_entered", "Chưa nhập", "Not entered"),
    ("late", "Nhập muộn", "Entered late"),
    ("settlement", "Giải quyết", "Settlement"),
    ("acceptance", "Thụ lý", "Acceptance"),
    ("response", "Trả lời", "Response"),
    ("vssid_response", "Trả lời VssID", "VssID response"),
    ("complaint", "Khiếu nại", "Complaint"),
    ("denunciation", "Tố cáo", "Denunciation"),
    ("recommendation", "Kiến nghị", "Recommendation"),
    ("reflection", "Phản ánh", "Reflection"),
    (
        "plan_title",
        "Kế hoạch thanh tra trách nhiệm",
        "Responsibility-inspection plan",
    ),
    ("plan_chosen", "Được chọn", "Chosen"),
    (
        "plan_missed",
        "Vừa trượt khỏi danh sách",
        "Just missed the cut",
    ),
    (
        "plan_excluded",
        "Loại theo quy tắc 12 tháng",
        "Excluded by the 12-month rule",
    ),
    ("risk_composite", "điểm tổng hợp", "composite"),
    ("risk_decline", "mức giảm điểm", "decline"),
    (
        "risk_backlog",
        "hồ sơ tồn quá hạn (d4)",
        "overdue backlog (d4)",
    ),
    (
        "risk_recency",
        "thời gian từ lần thanh tra trước",
        "time since the last inspection",
    ),
    (
        "plan_reason_composite",
        "Điểm tổng hợp {period}: {composite} (xếp loại {tier}).",
        "Composite {composite} in {period} (tier {tier}).",
    ),
    (
        "plan_reason_decline",
        "Điểm giảm {points} điểm so với {period}.",
        "Composite fell {points} points since {period}.",
    ),
    (
        "plan_reason_backlog",
        "{share} hồ sơ đang giải quyết đã quá hạn cuối {period}.",
        "{share} of open settlements overdue at the end of {period}.",
    ),
    (
        "plan_reason_last_inspection",
        "Lần thanh tra trách nhiệm gần nhất bắt đầu {date} ({months} tháng trước kỳ kế hoạch).",
        "Last responsibility inspection started {date} ({months} months before the quarter).",
    ),
    (
        "plan_reason_never_inspected",
        "Chưa từng được thanh tra trách nhiệm.",
        "Never inspected for responsibility.",
    ),
    (
        "plan_reason_missing",
        "Thiếu dữ liệu về {term}: tính bằng 0.",
        "No data for the {term} term: counted as 0.",
    ),
    (
        "plan_reason_excluded",
        "Đã thanh tra trách nhiệm trong 12 tháng trước kỳ kế hoạch; rủi ro {risk} dưới ngưỡng {override}.",
        "Inspected for responsibility less than 12 months before the quarter; risk {risk} below the override {override}.",
    ),
    (
        "plan_reason_override",
        "Đã thanh tra trong 12 tháng nhưng rủi ro ≥ {override}: vẫn được xét.",
        "Inspected less than 12 months before, but risk ≥ {override}: still eligible.",
    ),
    (
        "plan_reason_missed",
        "Rủi ro {risk} thấp hơn tỉnh cuối cùng được chọn ({cut}).",
        "Risk {risk} below the last province chosen ({cut}).",
    ),
    // Charts
    (
        "funnel_title",
        "Biểu đồ phễu: giải quyết đúng hạn (d2)",
        "Funnel plot: settlement on time (d2)",
    ),
    ("funnel_x", "Số vụ việc đến hạn", "Cases due"),
    ("funnel_y", "Tỷ lệ đúng hạn", "Share on time"),
    ("funnel_mean", "Cả nước", "National rate"),
    ("funnel_95", "Giới hạn 95%", "95% limit"),
    ("funnel_998", "Giới hạn 99,8%", "99.8% limit"),
    (
        "report_title",
        "Báo cáo quý: tiếp công dân, giải quyết khiếu nại, tố cáo và nhập cơ sở dữ liệu quốc gia",
        "Quarterly report: citizen reception, complaints and denunciations, national database entry",
    ),
    (
        "report_org",
        "Bảo hiểm xã hội Việt Nam",
        "Vietnam Social Security",
    ),
    ("report_contents", "Mục lục", "Contents"),
    ("report_generated", "Lập ngày", "Prepared on"),
    (
        "report_fingerprint",
        "Dấu vân tay dữ liệu",
        "Store fingerprint",
    ),
    ("report_summary", "Tóm tắt", "Summary"),
    ("report_league", "Bảng xếp hạng", "League table"),
    (
        "report_national",
        "Toàn cảnh cả nước",
        "The national picture",
    ),
    (
        "report_provinces",
        "Tỉnh cần chú ý",
        "Provinces needing attention",
    ),
    ("report_why", "Đưa vào báo cáo vì", "In this report because"),
    (
        "report_method",
        "Phương pháp và lưu ý về dữ liệu",
        "Method and data caveats",
    ),
    ("report_caveats", "Lưu ý về dữ liệu", "Data caveats"),
    (
        "report_tiers",
        "{period}: {a} tỉnh, thành phố xếp loại A, {b} loại B, {c} loại C, {d} loại D; {na} chưa đủ dữ liệu để xếp loại.",
        "{period}: {a} provinces in tier A, {b} in B, {c} in C, {d} in D; {na} without enough data for a tier.",
    ),
    ("report_best", "Cao nhất: {list}.", "Highest: {list}."),
    ("report_worst", "Thấp nhất: {list}.", "Lowest: {list}."),
    (
        "report_up",
        "Tăng nhiều nhất so với {prev}: {list}.",
        "Largest rises since {prev}: {list}.",
    ),
    (
        "report_down",
        "Giảm nhiều nhất so với {prev}: {list}.",
        "Largest falls since {prev}: {list}.",
    ),
    (
        "report_funnel",
        "Dưới giới hạn kiểm soát 99,8% về giải quyết đúng hạn (d2): {list}.",
        "Below the 99.8% control limit for settlement on time (d2): {list}.",
    ),
    (
        "report_funnel_none",
        "Không tỉnh, thành phố nào dưới giới hạn kiểm soát 99,8% về giải quyết đúng hạn (d2).",
        "No province is below the 99.8% control limit for settlement on time (d2).",
    ),
    (
        "report_alerts",
        "{n} cảnh báo đang mở: {list}.",
        "{n} open alerts: {list}.",
    ),
    (
        "report_alerts_never",
        "Cảnh báo chưa được đánh giá trên kho dữ liệu này (lệnh vigil alerts).",
        "Alerts have not been evaluated on this store (command vigil alerts).",
    ),
    (
        "report_alerts_none",
        "Không có cảnh báo đang mở.",
        "No open alerts.",
    ),
    (
        "report_alerts_unknown",
        "Cảnh báo chỉ được đánh giá theo dữ liệu mới nhất; không nêu cho ngày dữ liệu của báo cáo này.",
        "Alerts are evaluated on the latest data only; they are not stated for this report's as-of date.",
    ),
    (
        "report_method_1",
        "Mỗi tỉnh, thành phố được chấm ba lĩnh vực: tiếp công dân, đúng hạn giải quyết khiếu nại, tố cáo, và nhập cơ sở dữ liệu quốc gia; mỗi lĩnh vực từ 0 đến 100 theo các chỉ tiêu của Phương pháp.",
        "Each province is scored on three areas: citizen reception, deadlines of complaint and denunciation handling, and national database entry; each from 0 to 100 from the indicators of the Methodology.",
    ),
    (
        "report_method_2",
        "Điểm tổng hợp là trung bình các lĩnh vực có đủ dữ liệu; tỉnh thiếu dữ liệu ở quá nhiều lĩnh vực không được xếp loại.",
        "The composite is the mean of the areas with enough data; a province missing too many areas gets no tier.",
    ),
    (
        "report_method_3",
        "Xếp loại theo điểm tổng hợp đã làm tròn: A từ {a}, B từ {b}, C từ {c}, dưới {c} là D.",
        "Tiers follow the rounded composite: A from {a}, B from {b}, C from {c}, below {c} is D.",
    ),
    (
        "report_method_4",
        "Khoảng hạng 90% lấy từ {replicates} lần lấy mẫu lại (bootstrap): các tỉnh có khoảng chồng nhau không phân biệt được bằng dữ liệu.",
        "The 90% rank interval comes from {replicates} bootstrap replicates: provinces whose intervals overlap cannot be told apart by the data.",
    ),
    (
        "report_method_5",
        "Biểu đồ phễu so tỷ lệ của từng tỉnh với tỷ lệ cả nước trong giới hạn kiểm soát 95% và 99,8%, tính theo số vụ việc của tỉnh.",
        "The funnel plot compares each province's rate with the national rate within 95% and 99.8% control limits that depend on the province's number of cases.",
    ),
    (
        "report_caveat_extracts",
        "Số liệu từ {n} kỳ dữ liệu, kỳ cuối ngày {last}; kỳ cuối có {quarantined} dòng bị cách ly ({share}%), không được tính.",
        "Figures from {n} extracts, the last dated {last}; that extract had {quarantined} quarantined rows ({share}%), which are not counted.",
    ),
    (
        "report_caveat_insufficient",
        "Chưa đủ dữ liệu để xếp loại: {list}.",
        "Without enough data for a tier: {list}.",
    ),
    (
        "report_caveat_few",
        "Tỷ lệ dựa trên ít hơn {n} hồ sơ được đánh dấu \"ít số liệu\" kèm khoảng tin cậy 95%: nên đọc thận trọng.",
        "Rates resting on fewer than {n} records are marked \"few cases\" with their 95% interval: read them with care.",
    ),
    (
        "report_caveat_partial",
        "Quý chưa kết thúc ở ngày dữ liệu: số liệu tính đến {date}.",
        "The quarter had not ended at the as-of date: figures count up to {date}.",
    ),
    (
        "provenance_line",
        "Dữ liệu đến ngày {as_of} · dấu vân tay dữ liệu {fingerprint}",
        "Data as of {as_of} · store fingerprint {fingerprint}",
    ),
    (
        "funnel_unlabelled",
        "Cũng dưới giới hạn 99,8%:",
        "Also below the 99.8% limit:",
    ),
    (
        "below_limit",
        "Dưới giới hạn 99,8%",
        "Below the 99.8% limit",
    ),
    ("within_limits", "Trong giới hạn", "Within limits"),
];

/// The label for `key`; the key itself when there is none (a dashboard's
/// own column names, say), so a page never shows an empty heading.
pub fn t(lang: Lang, key: &str) -> String {
    LABELS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(_, vi, en)| match lang {
            Lang::Vi => *vi,
            Lang::En => *en,
        })
        .unwrap_or(key)
        .to_string()
}

/// Every label in one language, for templates.
pub fn all(lang: Lang) -> std::collections::BTreeMap<String, String> {
    LABELS
        .iter()
        .map(|(k, _, _)| (k.to_string(), t(lang, k)))
        .collect()
}

/// Whether a label exists for `key`.
pub fn has(key: &str) -> bool {
    LABELS.iter().any(|(k, _, _)| *k == key)
}

/// `t` with `{name}` placeholders filled in.
pub fn tf(lang: Lang, key: &str, args: &[(&str, String)]) -> String {
    let mut s = t(lang, key);
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), value);
    }
    s
}

/// A number with `decimals` places: `1.234,50` in Vietnamese, `1,234.50`
/// in English.
pub fn number(lang: Lang, v: f64, decimals: usize) -> String {
    // Half away from zero, as the scores themselves are rounded.
    let scale = 10f64.powi(decimals as i32);
    let text = format!("{:.*}", decimals, (v.abs() * scale).round() / scale);
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let (group, point) = match lang {
        Lang::Vi => ('.', ','),
        Lang::En => (',', '.'),
    };
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(group);
        }
        grouped.push(c);
    }
    let sign = if v < 0.0 && v.abs() * 10f64.powi(decimals as i32) >= 0.5 {
        "−"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}{point}{frac}")
    }
}

/// A share 0..1 as a percentage with one decimal.
pub fn percent(lang: Lang, v: f64) -> String {
    format!("{}%", number(lang, v * 100.0, 1))
}

/// `23/11/2026` in Vietnamese, `23 Nov 2026` in English.
pub fn date(lang: Lang, d: NaiveDate) -> String {
    match lang {
        Lang::Vi => d.format("%d/%m/%Y").to_string(),
        Lang::En => d.format("%-d %b %Y").to_string(),
    }
}

/// A period label as a reader says it: `Quý 3/2026`, `Q3 2026`.
pub fn period(lang: Lang, label: &str) -> String {
    if let Some((y, q)) = label.split_once("-Q") {
        return match lang {
            Lang::Vi => format!("Quý {q}/{y}"),
            Lang::En => format!("Q{q} {y}"),
        };
    }
    if let Some((y, m)) = label.split_once('-') {
        return match lang {
            Lang::Vi => format!("Tháng {}/{y}", m.trim_start_matches('0')),
            Lang::En => {
                let month = m.parse::<u32>().ok().and_then(|m| {
                    NaiveDate::from_ymd_opt(2000, m, 1).map(|d| d.format("%b").to_string())
                });
                format!("{} {y}", month.unwrap_or_else(|| m.to_string()))
            }
        };
    }
    match lang {
        Lang::Vi => format!("Năm {label}"),
        Lang::En => label.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_language() {
        assert_eq!(number(Lang::Vi, 1234.5, 2), "1.234,50");
        assert_eq!(number(Lang::En, 1234.5, 2), "1,234.50");
        assert_eq!(number(Lang::En, 1234567.0, 0), "1,234,567");
        assert_eq!(number(Lang::Vi, -3.25, 1), "−3,3");
        assert_eq!(number(Lang::En, -0.001, 1), "0.0");
        assert_eq!(percent(Lang::Vi, 0.8123), "81,2%");
    }

    #[test]
    fn dates_and_periods_follow_the_language() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        assert_eq!(date(Lang::Vi, d), "03/11/2026");
        assert_eq!(date(Lang::En, d), "3 Nov 2026");
        assert_eq!(period(Lang::Vi, "2026-Q3"), "Quý 3/2026");
        assert_eq!(period(Lang::En, "2026-Q3"), "Q3 2026");
        assert_eq!(period(Lang::Vi, "2026-03"), "Tháng 3/2026");
        assert_eq!(period(Lang::En, "2026-03"), "Mar 2026");
        assert_eq!(period(Lang::Vi, "2025"), "Năm 2025");
    }

    #[test]
    fn every_label_has_both_languages() {
        for (k, vi, en) in LABELS {
            assert!(!vi.is_empty() && !en.is_empty(), "{k}");
        }
        let mut keys: Vec<&str> = LABELS.iter().map(|l| l.0).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), LABELS.len(), "a label key appears twice");
    }
}
