# lfincident: incident levels, deadlines and threat lights (pure logic).
add_library(lfincident STATIC ${CMAKE_CURRENT_LIST_DIR}/lf_incident.c
            ${CMAKE_CURRENT_LIST_DIR}/lf_region.c)
target_include_directories(lfincident PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(lfincident PUBLIC lfcommon)
