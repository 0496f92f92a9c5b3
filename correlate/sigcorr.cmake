# lfsigcorr: Sigma correlation rules (event_count, value_count, temporal,
# temporal_ordered, value_sum/avg/percentile/median) evaluated on the stream
# of Sigma hits, with persistable state (lf_sigcorr*, docs/sigma-correlation.md).
add_library(lfsigcorr STATIC ${CMAKE_CURRENT_LIST_DIR}/lf_sigcorr_load.c
            ${CMAKE_CURRENT_LIST_DIR}/lf_sigcorr.c ${CMAKE_CURRENT_LIST_DIR}/lf_sigcorr_state.c)
target_include_directories(lfsigcorr PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(lfsigcorr PUBLIC lfcorrelate m)
# The detection stage (detect.cmake) feeds every Sigma hit to the engine.
target_link_libraries(lfdetect PUBLIC lfsigcorr)
