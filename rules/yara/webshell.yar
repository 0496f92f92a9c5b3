/*
 * Web shell markers in HTTP request bodies, uploaded file content and
 * access-log lines. Written for Lianfang; each rule carries ATT&CK tags.
 * Data: one event field value (see docs/intel.md); `lf_field` holds its
 * ECS path.
 */

rule php_webshell_eval_request : webshell php attack_t1505_003
{
    meta:
        author = "Lianfang"
        description = "PHP code that evaluates request input (China Chopper style one-liners)"
        attack_technique = "T1505.003"
        severity = "high"
        date = "2026-03-10"
    strings:
        $eval1 = /(eval|assert)\s*\(\s*(base64_decode\s*\(\s*)?\$_(POST|GET|REQUEST|COOKIE)\s*\[/ nocase
        $eval2 = /(system|passthru|shell_exec|exec|popen)\s*\(\s*\$_(POST|GET|REQUEST)\s*\[/ nocase
        $create = /create_function\s*\([^)]*\$_(POST|GET|REQUEST)/ nocase
    condition:
        any of them
}

rule jsp_webshell_runtime_exec : webshell jsp attack_t1505_003
{
    meta:
        author = "Lianfang"
        description = "JSP page that runs a command taken from a request parameter"
        attack_technique = "T1505.003"
        severity = "high"
        date = "2026-03-10"
    strings:
        $exec = "Runtime.getRuntime().exec(" ascii
        $param = "request.getParameter(" ascii
        $pb = "new ProcessBuilder(" ascii
    condition:
        ($exec or $pb) and $param
}

rule aspx_webshell_eval_request : webshell aspx attack_t1505_003
{
    meta:
        author = "Lianfang"
        description = "ASP/ASPX code that evaluates request input"
        attack_technique = "T1505.003"
        severity = "high"
        date = "2026-03-10"
    strings:
        $jscript = /eval\s*\(\s*Request(\.Item|\.Form)?\s*\[/ nocase
        $vbs = /Execute\s*\(?\s*Request(\.Form)?\s*\(/ nocase
    condition:
        any of them
}
