# Debian packages built by the project's own build: `cpack -G DEB` in a
# build directory (packaging/build-deb.sh) makes
#   lianfang-agent_<version>_<arch>.deb   the collector for member agencies
#   lianfang-server_<version>_<arch>.deb  lianfangd, the broker, logtest, rules
# Dependencies are the Debian 12 runtime packages the binaries link.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME lianfang)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "Lianfang maintainers <lianfang@localhost>")
set(CPACK_PACKAGE_VENDOR "Lianfang")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent server)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME lianfang-agent)
string(CONCAT CPACK_COMPONENT_AGENT_DESCRIPTION
       "Lianfang agent: log files and syslog of a member agency to the regional SOC\n"
       "Tails log files (rotation, globs, multi-line records, Big5) and receives\n"
       "syslog over UDP, TCP and TLS, numbers every record and keeps it until the\n"
       "regional lianfangd reports it stored.")
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS
    "adduser, libc6, librdkafka1, libuv1, liblmdb0, libyaml-0-2, libssl3, libzstd1, liblz4-1, libsasl2-2, libsystemd0")
# CPack copies these under their base name into DEBIAN/, so each lives in
# its own folder with the name dpkg expects.
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/agent/postinst ${CMAKE_CURRENT_LIST_DIR}/agent/prerm
    ${CMAKE_CURRENT_LIST_DIR}/agent/postrm ${CMAKE_CURRENT_LIST_DIR}/agent/conffiles)
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME lianfang-server)
string(CONCAT CPACK_COMPONENT_SERVER_DESCRIPTION
       "Lianfang server: ingest, detection, incidents, store and API of a regional SOC\n"
       "lianfangd, the embedded Kafka-protocol broker for evaluation, the\n"
       "lianfang-logtest tool, decoders, Sigma/YARA/STIX content and the region model.")
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS
    "adduser, libc6, librdkafka1, libuv1, liblmdb0, libyaml-0-2, libssl3, libzstd1, liblz4-1, libsasl2-2, libjansson4, libmicrohttpd12, libpcre2-8-0, libyara9")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/server/postinst ${CMAKE_CURRENT_LIST_DIR}/server/prerm
    ${CMAKE_CURRENT_LIST_DIR}/server/postrm ${CMAKE_CURRENT_LIST_DIR}/server/conffiles)
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
