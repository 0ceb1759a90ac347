#include <gtest/gtest.h>
#include "offcopy/copy.h"
TEST(Smoke, Names) { EXPECT_STREQ(offcopy::mechanism_name(offcopy::Mechanism::clone), "clone"); }
