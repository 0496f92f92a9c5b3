# lfdetect: the detection stage (Sigma + YARA + STIX indicators -> alerts).
add_library(lfdetect STATIC ${CMAKE_CURRENT_LIST_DIR}/lf_detect.c)
target_include_directories(lfdetect PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(lfdetect PUBLIC lfcorrelate)
