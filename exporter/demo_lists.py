"""Word lists for the demo clinic (exporter/demo_data.py): dental work, health, places, notes."""
from __future__ import annotations

# procedure -> (lowest, highest) price; the demo's amounts stay inside these ranges
PROCEDURES: dict[str, tuple[int, int]] = {
    "Examination": (20, 40),
    "X-ray (panoramic)": (30, 60),
    "Scaling and polishing": (40, 90),
    "Filling (composite)": (60, 150),
    "Filling (amalgam)": (50, 110),
    "Root canal treatment": (250, 600),
    "Crown (porcelain)": (400, 900),
    "Crown (zirconia)": (500, 1100),
    "Extraction": (60, 150),
    "Wisdom tooth extraction": (150, 350),
    "Implant": (900, 2200),
    "Bridge (3 units)": (1100, 2400),
    "Whitening": (200, 450),
    "Braces adjustment": (50, 120),
    "Fluoride varnish": (20, 45),
    "Fissure sealant": (25, 60),
    "Denture fitting": (500, 1400),
    "Gum treatment": (120, 300),
}

# long treatments sold as a deal (a plan paid over several visits)
DEAL_TITLES = (
    "Implant", "Crown (zirconia)", "Bridge (3 units)", "Orthodontic treatment",
    "Root canal treatment", "Denture fitting", "Whitening", "Full mouth rehabilitation",
)
DEAL_PRICES = {"Orthodontic treatment": (1800, 4500), "Full mouth rehabilitation": (4000, 9000)}

CONDITIONS = ("Diabetes type 2", "Hypertension", "Asthma", "Heart murmur", "Pregnancy",
              "Epilepsy", "Hepatitis B", "Thyroid disorder", "Bleeding disorder")
MEDICATIONS = ("Metformin 500 mg", "Aspirin 81 mg", "Warfarin", "Amlodipine 5 mg",
               "Salbutamol inhaler", "Levothyroxine", "Atorvastatin 20 mg", "Insulin")
ALLERGIES = ("Penicillin", "Latex", "Ibuprofen", "Lidocaine", "Chlorhexidine", "Codeine")
HEALTH_DETAILS = ("", "", "since 2015", "mild", "severe: rash and swelling", "twice daily",
                  "controlled", "ask before prescribing")

CITIES_AR = ("بيروت", "طرابلس", "صيدا", "صور", "زحلة", "جبيل", "عمّان", "إربد", "دمشق", "حلب")
STREETS_AR = ("شارع الحمراء", "شارع المعرض", "شارع الجامعة", "طريق الشام", "شارع الكورنيش",
              "حي السلّم", "شارع مار الياس", "ساحة النجمة")

VISIT_NOTES_EN = (
    "Patient tolerated the procedure well.", "Sensitivity on cold, review next time.",
    "Advised to floss daily.", "Temporary filling placed.", "Local anaesthesia, no complications.",
    "Bleeding gums, scaling recommended.", "Paid in cash.", "Patient was late.",
)
VISIT_NOTES_AR = (
    "تحمّل المريض العلاج جيداً.", "حساسية على البارد، مراجعة في الزيارة القادمة.",
    "نُصح باستعمال خيط الأسنان يومياً.", "حشوة مؤقتة.", "تخدير موضعي دون مضاعفات.",
    "دُفع نقداً.",
)
PATIENT_NOTES_EN = ("Prefers morning appointments.", "Anxious patient, explain every step.",
                    "Call before the appointment.", "Insurance: pending approval.",
                    "Gag reflex, use small film.")
PATIENT_NOTES_AR = ("يفضّل المواعيد الصباحية.", "مريض قلق، يجب الشرح قبل كل خطوة.",
                    "الاتصال قبل الموعد.", "التأمين: بانتظار الموافقة.")
APPOINTMENT_REASONS = ("Check-up", "Follow-up", "Pain", "Cleaning", "Continue treatment",
                       "Crown fitting", "Braces adjustment", "Consultation", "مراجعة",
                       "ألم في الضرس", "تنظيف")

# Hostile text a published page must show as text, never run or interpret.
HOSTILE = {
    "script": "<script>alert(1)</script>",
    "img": "<img src=x onerror=alert(1)>",
    "quotes": "O'Brien & \"Sons\" <b>&amp;</b>",
    "template": "{{ 7*7 }} ${7*7} {% raw %}",
    "bidi": "\u202egpj.exe \u2066evil\u2069",
    "close": "</textarea></li></ol><script src=//x></script>",
}
