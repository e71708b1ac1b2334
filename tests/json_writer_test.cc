// JsonWriter: structure (commas, nesting) and the HTML-safe escaping the
// status page's API relies on.
#include "daemon/http/json_writer.h"

#include <gtest/gtest.h>

namespace metad::daemon {
namespace {

TEST(JsonWriter, NestsWithCommas) {
  JsonWriter json;
  json.BeginObject();
  json.Key("a").Int(-1);
  json.Key("b").BeginArray().Bool(true).Null().Double(0.5).EndArray();
  json.Key("c").BeginObject().EndObject();
  json.Key("d").OptionalInt(std::nullopt);
  json.Key("e").OptionalInt(7);
  json.EndObject();
  EXPECT_EQ(json.str(),
            R"({"a":-1,"b":[true,null,0.5],"c":{},"d":null,"e":7})");
}

TEST(JsonQuoteHtmlSafe, EscapesMarkupQuotesAndControls) {
  EXPECT_EQ(JsonQuoteHtmlSafe("</script><b x='1'>&amp;"),
            R"("\u003c/script\u003e\u003cb x=\u00271\u0027\u003e\u0026amp;")");
  EXPECT_EQ(JsonQuoteHtmlSafe("\"\\\n\r\t\x01\x7f"),
            R"("\"\\\n\r\t\u0001\u007f")");
  // Valid UTF-8 passes; JS line separators are escaped.
  EXPECT_EQ(JsonQuoteHtmlSafe("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
            "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
  EXPECT_EQ(JsonQuoteHtmlSafe("a\xe2\x80\xa8"
                              "b\xe2\x80\xa9"),
            R"("a\u2028b\u2029")");
}

TEST(JsonQuoteHtmlSafe, ReplacesInvalidUtf8) {
  EXPECT_EQ(JsonQuoteHtmlSafe("a\xff"
                              "b"),
            R"("a\ufffdb")");
  EXPECT_EQ(JsonQuoteHtmlSafe("\xc3"), R"("\ufffd")");            // truncated
  EXPECT_EQ(JsonQuoteHtmlSafe("\xc0\xaf"), R"("\ufffd\ufffd")");  // overlong
  EXPECT_EQ(JsonQuoteHtmlSafe("\xed\xa0\x80"),                    // surrogate
            R"("\ufffd\ufffd\ufffd")");
}

}  // namespace
}  // namespace metad::daemon
