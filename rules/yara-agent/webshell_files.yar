/*
 * Web shells as files on a web server's disk (the agent scans the web
 * roots; lianfangd's rules in rules/yara/ look at request bodies). Written
 * for Lianfang.
 */

rule webshell_php_eval_input_file : webshell persistence attack_t1505_003
{
    meta:
        author = "Lianfang"
        description = "PHP file evaluating request input (eval/assert of $_POST, $_GET, $_REQUEST)"
        attack_technique = "T1505.003"
        severity = "critical"
        date = "2026-03-10"
    strings:
        $php = "<?php" nocase
        $e1 = /(eval|assert)\s*\(\s*(base64_decode\s*\(\s*)?\$_(POST|GET|REQUEST|COOKIE)\s*\[/ nocase
        $e2 = /(eval|assert)\s*\(\s*(gzinflate|str_rot13)\s*\(\s*base64_decode/ nocase
    condition:
        filesize < 2MB and $php and any of ($e*)
}

rule webshell_jsp_runtime_exec_file : webshell persistence attack_t1505_003
{
    meta:
        author = "Lianfang"
        description = "JSP file running a request parameter as a command"
        attack_technique = "T1505.003"
        severity = "critical"
        date = "2026-03-10"
    strings:
        $exec = "Runtime.getRuntime().exec(" ascii
        $param = "request.getParameter(" ascii
    condition:
        filesize < 2MB and $exec and $param
}
