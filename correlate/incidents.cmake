# lfincidents: incidents and joint-defence correlation over the store's
# keyed tables (lf_incidents.h).
add_library(lfincidents STATIC ${CMAKE_CURRENT_LIST_DIR}/lf_incidents.c)
target_include_directories(lfincidents PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(lfincidents PUBLIC lfincident lfstore PkgConfig::JANSSON)
