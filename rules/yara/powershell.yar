/*
 * Encoded and download-cradle PowerShell in command lines and script
 * blocks. Written for Lianfang.
 */

rule powershell_encoded_command : powershell obfuscation attack_t1059_001 attack_t1027
{
    meta:
        author = "Lianfang"
        description = "PowerShell started with a Base64 -EncodedCommand argument"
        attack_technique = "T1059.001"
        attack_technique_2 = "T1027"
        severity = "medium"
        date = "2026-03-10"
    strings:
        $ps = /powershell(\.exe)?"?\s/ nocase
        $pwsh = /pwsh(\.exe)?"?\s/ nocase
        /* -EncodedCommand and its prefixes (-enc, -encod, ...), also with "/" */
        $enc_long = /[-\/]enc[a-z]{0,11}\s+"?[A-Za-z0-9+\/]{20,}/ nocase
        /* -e, -ec, -en (and with "/"); one literal prefix each keeps atoms good */
        $enc_dash = / -e[cn]?\s+"?[A-Za-z0-9+\/]{20,}/ nocase
        $enc_slash = / \/e[cn]?\s+"?[A-Za-z0-9+\/]{20,}/ nocase
    condition:
        ($ps or $pwsh) and any of ($enc*)
}

rule powershell_download_cradle : powershell download attack_t1059_001 attack_t1105
{
    meta:
        author = "Lianfang"
        description = "PowerShell that downloads and runs code in memory"
        attack_technique = "T1059.001"
        attack_technique_2 = "T1105"
        severity = "high"
        date = "2026-03-10"
    strings:
        $iex = /(IEX|Invoke-Expression)\s*\(?\s*\(?\s*New-Object\s+(System\.)?Net\.WebClient\s*\)?\s*\.\s*Download(String|Data)/ nocase
        $iwr = /(IEX|Invoke-Expression)\s*\(?\s*(iwr|Invoke-WebRequest|irm|Invoke-RestMethod)\s/ nocase
    condition:
        any of them
}

rule powershell_hidden_noprofile : powershell attack_t1059_001
{
    meta:
        author = "Lianfang"
        description = "PowerShell with a hidden window, no profile and bypassed execution policy"
        attack_technique = "T1059.001"
        attack_technique_2 = "T1564.003"
        severity = "low"
        date = "2026-03-10"
    strings:
        $hidden = /\s[-\/]w(indowstyle)?\s+hid(den)?/ nocase
        $nop = /\s[-\/]nop(rofile)?\b/ nocase
        $bypass = /\s[-\/]ex(ecutionpolicy)?\s+bypass/ nocase
        $ps = "powershell" nocase
    condition:
        $ps and $hidden and $nop and $bypass
}
