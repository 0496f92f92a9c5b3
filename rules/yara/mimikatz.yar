/*
 * Mimikatz command strings and banners in command lines, script blocks and
 * files reported by agents. Written for Lianfang.
 */

rule mimikatz_commands : credential_access mimikatz attack_t1003_001
{
    meta:
        author = "Lianfang"
        description = "Mimikatz module commands for credential theft"
        attack_technique = "T1003.001"
        severity = "critical"
        date = "2026-03-10"
    strings:
        $c1 = "sekurlsa::logonpasswords" nocase ascii wide
        $c2 = "sekurlsa::pth" nocase ascii wide
        $c3 = "lsadump::sam" nocase ascii wide
        $c4 = "lsadump::dcsync" nocase ascii wide
        $c5 = "kerberos::golden" nocase ascii wide
        $c6 = "kerberos::ptt" nocase ascii wide
        $c7 = "sekurlsa::ekeys" nocase ascii wide
        $c8 = "lsadump::secrets" nocase ascii wide
    condition:
        any of them
}

rule mimikatz_banner : credential_access mimikatz attack_t1003
{
    meta:
        author = "Lianfang"
        description = "Mimikatz banner or author strings in a binary or its output"
        attack_technique = "T1003"
        severity = "high"
        date = "2026-03-10"
    strings:
        $b1 = "gentilkiwi" nocase ascii wide
        $b2 = "mimikatz" nocase ascii wide
        $b3 = "Benjamin DELPY" ascii wide
        $b4 = "privilege::debug" nocase ascii wide
    condition:
        2 of them
}
