# YARA on payload fields, STIX 2.1 bundle import and compiled indicator sets
# (lf_yara*, lf_stix*, lf_ioc*), part of lfcorrelate.
pkg_check_modules(YARA REQUIRED IMPORTED_TARGET yara)
if(NOT TARGET lfcorrelate)
  add_library(lfcorrelate STATIC)
  target_include_directories(lfcorrelate PUBLIC ${CMAKE_CURRENT_LIST_DIR})
  target_link_libraries(lfcorrelate PUBLIC lfcommon lfingest)
endif()
target_sources(lfcorrelate PRIVATE ${CMAKE_CURRENT_LIST_DIR}/lf_yara.c
               ${CMAKE_CURRENT_LIST_DIR}/lf_stix.c ${CMAKE_CURRENT_LIST_DIR}/lf_ioc.c)
target_link_libraries(lfcorrelate PUBLIC PkgConfig::JANSSON PkgConfig::YARA)
