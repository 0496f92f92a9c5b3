/*
 * The agent scan self-test: a file holding the marker string below is
 * reported, so an operator can check that an agent scans a directory and
 * that its matches reach the SOC. Written for Lianfang.
 */

rule lianfang_scan_test_marker : test lianfang
{
    meta:
        author = "Lianfang"
        description = "Lianfang agent YARA scan test marker (harmless)"
        severity = "low"
        date = "2026-03-10"
    strings:
        $marker = "LIANFANG-YARA-TEST-MARKER-7f3a9c"
    condition:
        $marker
}
